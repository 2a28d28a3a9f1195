"""Request and response models of the producer features (pause, schedules, await).

New bodies are strict (no coercion: "1" is not an integer) and refuse unknown fields, with
their bounds in `Field(...)`, so that the OpenAPI document states them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from leaseq.adapters.http.schemas import QueueOut, RetryIn
from leaseq.domain import DEFAULT_LIMITS

JsonValue = Any
Name = Annotated[str, Field(min_length=1, max_length=128)]
_LIMITS = DEFAULT_LIMITS


class _StrictIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StrictRetryIn(_StrictIn):
    base_seconds: float = Field(1.0, ge=0, allow_inf_nan=False)
    factor: float = Field(2.0, ge=1, le=100, allow_inf_nan=False)
    max_seconds: float = Field(3600.0, ge=0, allow_inf_nan=False)
    jitter: float = Field(0.2, ge=0, le=1, allow_inf_nan=False)


class ScheduleTaskIn(_StrictIn):
    """The template of each task the schedule enqueues (no run_at, no idempotency_key:
    the fire time sets both)."""

    queue: Name
    type: Name
    type_version: int = Field(1, ge=_LIMITS.min_type_version, le=_LIMITS.max_type_version)
    payload: JsonValue = None
    labels: dict[str, str] = Field(default_factory=dict, max_length=_LIMITS.max_labels - 1)
    priority: int = Field(0, ge=_LIMITS.min_priority, le=_LIMITS.max_priority)
    max_attempts: int = Field(20, ge=1, le=_LIMITS.max_attempts)
    retry: StrictRetryIn | None = None


class ScheduleIn(_StrictIn):
    cron: str = Field(
        min_length=1,
        max_length=200,
        description="5 fields (minute hour day-of-month month day-of-week), or 6 with a "
        "leading seconds field",
        examples=["*/5 * * * *"],
    )
    timezone: str = Field("UTC", min_length=1, max_length=64, examples=["Europe/Berlin"])
    task: ScheduleTaskIn


class ScheduleTaskOut(BaseModel):
    queue: str
    type: str
    type_version: int
    payload: JsonValue
    labels: dict[str, str]
    priority: int
    max_attempts: int
    retry: RetryIn


class ScheduleOut(BaseModel):
    name: str
    cron: str
    timezone: str
    task: ScheduleTaskOut
    next_fire_at: datetime
    last_fire_at: datetime | None
    last_task_id: str | None
    revision: int
    created_at: datetime
    updated_at: datetime


class SchedulesOut(BaseModel):
    schedules: list[ScheduleOut]


class QueueStateOut(QueueOut):
    paused: bool
    paused_at: datetime | None


class QueueStatesOut(BaseModel):
    queues: list[QueueStateOut]
