"""Response models of API v1, for the OpenAPI document only: routes answer the plain dicts
of `representations`. (Request bodies are msgspec Structs: bodies.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from leaseq.domain import TaskState

JsonValue = Any


class RetryOut(BaseModel):
    base_seconds: float
    factor: float
    max_seconds: float
    jitter: float


# -- responses (documentation) -----------------------------------------------------------


class LeaseInfoOut(BaseModel):
    owner: str
    epoch: int
    expires_at: datetime


class TaskOut(BaseModel):
    id: str
    queue: str
    type: str
    type_version: int
    payload: JsonValue
    labels: dict[str, str]
    priority: int
    run_at: datetime
    attempts: int
    max_attempts: int
    retry: RetryOut
    idempotency_key: str | None
    concurrency_key: str | None
    state: TaskState
    epoch: int
    lease: LeaseInfoOut | None
    last_error: str | None
    result: JsonValue
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class EnqueuedOut(BaseModel):
    id: str
    state: TaskState
    deduplicated: bool


class EnqueueOut(BaseModel):
    tasks: list[EnqueuedOut]


class TaskPageOut(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None


class LeaseOut(BaseModel):
    task_id: str
    token: str
    epoch: int
    expires_at: datetime
    attempt: int
    max_attempts: int
    queue: str
    type: str
    type_version: int
    payload: JsonValue
    labels: dict[str, str]
    priority: int
    created_at: datetime


class HeartbeatOut(BaseModel):
    task_id: str
    epoch: int
    expires_at: datetime


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    task_id: str | None = None
    errors: list[FieldErrorOut] | None = None


class ResultOut(BaseModel):
    task_id: str | None  # None: an item so malformed that it names no task
    ok: bool
    state: Literal["pending", "leased", "succeeded", "dead", "cancelled"] | None = None
    updated_at: datetime | None = None  # with include_tasks=false: when the state changed
    task: TaskOut | None = None
    problem: ProblemOut | None = None


class ResultsOut(BaseModel):
    results: list[ResultOut]


class LeasesOut(BaseModel):
    leases: list[LeaseOut]
    # how long the request waited before the claim that granted them (a lower bound)
    waited_seconds: float = 0.0
    # only when the request carried `results`: one answer per result, as /v1/results
    # answers with include_tasks=false (ADR 0033)
    results: list[ResultOut] | None = None


class StateCountsOut(BaseModel):
    pending: int
    leased: int
    succeeded: int
    dead: int
    cancelled: int


class QueueOut(BaseModel):
    queue: str
    counts: StateCountsOut
    ready: int
    scheduled: int
    oldest_ready_age_seconds: float | None
    succeeded_last_minute: int
    dead_last_minute: int


class TaskEventOut(BaseModel):
    at: datetime
    transition: str
    from_state: str | None
    to_state: str
    attempt: int
    epoch: int
    worker: str | None
    error: str | None


class HistoryOut(BaseModel):
    events: list[TaskEventOut]


class QueuesOut(BaseModel):
    queues: list[QueueOut]


class StatusOut(BaseModel):
    status: str
