"""The SDK's value types: what transports take and return (the same for every transport)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from attrs import field, frozen

JSON = Any  # a value json.dumps accepts

TaskStateName = Literal["pending", "leased", "succeeded", "dead", "cancelled"]
OutcomeKind = Literal["complete", "retry", "fail"]


def _str_dict(value: Mapping[str, str] | None) -> dict[str, str]:
    return dict(value) if value else {}  # always a dict of our own


@frozen
class RetrySettings:
    """A task's retry backoff: min(max_seconds, base_seconds * factor ** (attempt - 1)),
    of which the last `jitter` fraction is random."""

    base_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 3600.0
    jitter: float = 0.2


@frozen
class TaskRequest:
    """One task to enqueue. Give `run_at` (absolute) or `delay_seconds`, not both."""

    queue: str
    type: str
    payload: JSON = None
    version: int = 1
    labels: dict[str, str] = field(default=None, converter=_str_dict)  # None: one dict, not two
    priority: int = 0
    run_at: datetime | None = None
    delay_seconds: float | None = None
    max_attempts: int = 20
    retry: RetrySettings | None = None
    idempotency_key: str | None = None
    # groups tasks for a queue's per-key limit and round-robin (Client.set_limits)
    concurrency_key: str | None = None


@frozen
class EnqueueResult:
    id: UUID
    state: TaskStateName
    deduplicated: bool


@frozen
class LeaseHolder:
    """Who holds a leased task and until when (the token is never shown)."""

    owner: str
    epoch: int
    expires_at: datetime


@frozen
class TaskInfo:
    id: UUID
    queue: str
    type: str
    type_version: int
    payload: JSON
    labels: dict[str, str]
    priority: int
    run_at: datetime
    attempts: int
    max_attempts: int
    retry: RetrySettings
    idempotency_key: str | None
    state: TaskStateName
    epoch: int
    lease: LeaseHolder | None
    last_error: str | None
    result: JSON
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    concurrency_key: str | None = None


@frozen
class TypeVersion:
    type: str
    version: int


@frozen
class LeaseRequest:
    """Ask for up to `max_tasks` ready tasks; wait up to `wait_seconds` when none is ready.

    `request_id` names the request; sent again with `repeat=True` (its answer was lost),
    it is answered with the leases the first one was granted, while they are live.
    """

    queue: str
    worker_id: str
    types: tuple[TypeVersion, ...] | None = None
    max_tasks: int = 1
    lease_seconds: float = 30.0
    wait_seconds: float = 0.0
    request_id: str | None = None
    repeat: bool = False


@frozen
class LeaseInfo:
    """A granted lease: the task to run, with the secret token that proves the holder.

    `waited_seconds`: how long the lease request waited at the service before the claim
    that granted it began (a lower bound): the lease runs for at least `lease_seconds`
    from the request's sending plus this.
    """

    task_id: UUID
    token: str = field(repr=False)
    epoch: int
    expires_at: datetime
    attempt: int
    max_attempts: int
    queue: str
    type: str
    type_version: int
    payload: JSON
    labels: dict[str, str]
    priority: int
    created_at: datetime
    waited_seconds: float = 0.0


@frozen
class LeaseRenewal:
    task_id: UUID
    epoch: int
    expires_at: datetime


@frozen
class Reported:
    """A reported outcome the service accepted: the task's state now, and since when (the
    service's clock)."""

    task_id: UUID
    state: TaskStateName
    updated_at: datetime


@frozen
class Outcome:
    """One result for a batch report: complete (with `result`), retry or fail (with `error`)."""

    task_id: UUID
    token: str = field(repr=False)
    kind: OutcomeKind
    result: JSON = None
    error: str | None = None
    delay_seconds: float | None = None


@frozen
class TaskPage:
    tasks: list[TaskInfo]
    next_cursor: str | None


@frozen
class QueueInfo:
    queue: str
    counts: dict[str, int]
    ready: int
    scheduled: int
    oldest_ready_age_seconds: float | None
    succeeded_last_minute: int = 0
    dead_last_minute: int = 0

    @property
    def oldest_ready_age(self) -> timedelta | None:
        age = self.oldest_ready_age_seconds
        return None if age is None else timedelta(seconds=age)


@frozen
class FlowLimits:
    """A queue's flow-control limits (None: no such limit): live leases on the queue, live
    leases per concurrency key, leases started per second."""

    concurrency: int | None = None
    concurrency_per_key: int | None = None
    rate_per_second: float | None = None


@frozen
class QueueState(QueueInfo):
    """One queue's counts and what operators set on it; its live leases now, in all and
    (`Client.queue`) per concurrency key."""

    paused: bool = False
    paused_at: datetime | None = None
    limits: FlowLimits = FlowLimits()
    live_leases: int = 0
    live_per_key: dict[str, int] | None = None


@frozen
class ScheduleInfo:
    """A periodic schedule: one task of `task` (a template: no run_at, delay or
    idempotency key; the fire time sets them) per fire time of `cron` in `timezone`."""

    name: str
    cron: str
    timezone: str
    task: TaskRequest
    next_fire_at: datetime
    last_fire_at: datetime | None
    last_task_id: UUID | None
    revision: int
    created_at: datetime
    updated_at: datetime


@frozen
class TaskEventInfo:
    """One transition in a task's history; `attempt` and `epoch` as they stood after it,
    `worker` the holder of the lease it began or ended."""

    at: datetime
    transition: str
    from_state: TaskStateName | None
    to_state: TaskStateName
    attempt: int
    epoch: int
    worker: str | None
    error: str | None


__all__ = [
    "JSON",
    "EnqueueResult",
    "FlowLimits",
    "LeaseHolder",
    "LeaseInfo",
    "LeaseRenewal",
    "LeaseRequest",
    "Outcome",
    "OutcomeKind",
    "QueueInfo",
    "QueueState",
    "Reported",
    "RetrySettings",
    "ScheduleInfo",
    "TaskEventInfo",
    "TaskInfo",
    "TaskPage",
    "TaskRequest",
    "TaskStateName",
    "TypeVersion",
]
