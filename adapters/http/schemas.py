"""Request and response models of API v1; requests are parsed with them, responses are
documented by them (routes return the plain dicts of `representations`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leaseq.domain import TaskState

Seconds = Annotated[float, Field(allow_inf_nan=False)]
JsonValue = Any


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RetryIn(_In):
    base_seconds: Seconds = 1.0
    factor: Seconds = 2.0
    max_seconds: Seconds = 3600.0
    jitter: Seconds = 0.2


class TaskIn(_In):
    queue: str
    type: str
    type_version: int = 1
    payload: JsonValue = None
    labels: dict[str, str] = Field(default_factory=dict)
    priority: int = 0
    run_at: datetime | None = None
    delay_seconds: Seconds | None = None
    max_attempts: int = 20
    retry: RetryIn | None = None
    idempotency_key: str | None = None


class EnqueueIn(_In):
    tasks: list[TaskIn]


class TypeIn(_In):
    type: str
    version: int = 1


class LeaseIn(_In):
    queue: str
    worker_id: str
    types: list[TypeIn] | None = None
    max_tasks: int = 1
    lease_seconds: Seconds = 30.0
    wait_seconds: Seconds = 0.0
    # The worker's name for this request, and whether it is a repeat of it (ADR 0021).
    request_id: str | None = None
    repeat: bool = False


class HeartbeatIn(_In):
    token: str
    lease_seconds: Seconds = 30.0


class CompleteIn(_In):
    token: str
    result: JsonValue = None


class RetryTaskIn(_In):
    token: str
    error: str
    delay_seconds: Seconds | None = None


class FailIn(_In):
    token: str
    error: str


class ReleaseIn(_In):
    token: str


class ResultIn(_In):
    task_id: str
    token: str
    outcome: Literal["complete", "retry", "fail"]
    result: JsonValue = None
    error: str | None = None
    delay_seconds: Seconds | None = None

    @model_validator(mode="after")
    def _error_for_failures(self) -> ResultIn:
        if self.outcome != "complete" and self.error is None:
            raise ValueError(f"outcome {self.outcome!r} needs an 'error'")
        return self


class ResultsIn(_In):
    results: list[ResultIn]
    # false: each accepted answer carries the task's new state (and when it changed) but
    # not the whole task
    # (a worker needs no more, and the task objects are most of the answer's cost)
    include_tasks: bool = True


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
    retry: RetryIn
    idempotency_key: str | None
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


class LeasesOut(BaseModel):
    leases: list[LeaseOut]
    # how long the request waited before the claim that granted them (a lower bound)
    waited_seconds: float = 0.0


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
    task_id: str
    ok: bool
    state: Literal["pending", "leased", "succeeded", "dead", "cancelled"] | None = None
    updated_at: datetime | None = None  # with include_tasks=false: when the state changed
    task: TaskOut | None = None
    problem: ProblemOut | None = None


class ResultsOut(BaseModel):
    results: list[ResultOut]


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
