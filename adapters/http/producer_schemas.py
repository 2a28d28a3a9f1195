"""Response models of the producer features (pause, schedules), for the OpenAPI document;
the request bodies are msgspec schemas in bodies.py, like every other (ADR 0017)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from leaseq.adapters.http.schemas import QueueOut, RetryOut

JsonValue = Any


class ScheduleTaskOut(BaseModel):
    queue: str
    type: str
    type_version: int
    payload: JsonValue
    labels: dict[str, str]
    priority: int
    max_attempts: int
    retry: RetryOut
    concurrency_key: str | None


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


class LimitsOut(BaseModel):
    concurrency: int | None
    concurrency_per_key: int | None
    rate_per_second: float | None


class QueueStateOut(QueueOut):
    paused: bool
    paused_at: datetime | None
    limits: LimitsOut
    live_leases: int  # leases live now (an expired one is not)
    live_per_key: dict[str, int] | None = None  # per concurrency key: GET /v1/queues/{queue}


class QueueStatesOut(BaseModel):
    queues: list[QueueStateOut]
