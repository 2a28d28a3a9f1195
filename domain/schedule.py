"""Periodic schedules: a cron rule in a time zone that enqueues one task per fire time.

The cron arithmetic itself comes from outside (a `NextAfter` function: the first fire
time strictly after an instant), so that these rules stay pure. See ADR 0029.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from attrs import evolve, frozen

from leaseq.domain.errors import PayloadTooLarge, ValidationError
from leaseq.domain.retry import RetryPolicy
from leaseq.domain.task import TaskSpec
from leaseq.domain.validation import DEFAULT_LIMITS, Limits, check_name, check_spec

NextAfter = Callable[[datetime], datetime]
SCHEDULE_LABEL = "leaseq.schedule"
# Looking back from `now` for the latest missed fire time: the first window holding one
# bounds the steps taken (a rule that fires every minute, missed for a year, takes 60).
_LOOKBACK = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=32),
    timedelta(days=367),
    timedelta(days=366 * 50),
)


@frozen
class ScheduleSpec:
    """What an operator asks for: `task` is the template of every task it enqueues (its
    `run_at` and `idempotency_key` are the schedule's to set)."""

    name: str
    cron: str
    timezone: str
    task: TaskSpec


@frozen
class Schedule:
    """A stored schedule. `next_fire_at` is the next fire time not yet enqueued;
    `revision` grows with every replacement, so a firing planned on an older definition
    cannot move the newer one on."""

    name: str
    cron: str
    timezone: str
    task: TaskSpec
    next_fire_at: datetime
    revision: int
    last_fire_at: datetime | None
    last_task_id: UUID | None
    created_at: datetime
    updated_at: datetime


@frozen
class Firing:
    """Enqueue the task of `fire_at`, then wait for `following`."""

    fire_at: datetime
    following: datetime


def plan_firing(schedule: Schedule, now: datetime, next_after: NextAfter) -> Firing | None:
    """What a due schedule does at `now`: None when `next_fire_at` lies ahead. Otherwise
    one task, for the latest fire time at or before `now` (fires missed while nothing ran
    are not back-filled, only the last of them is enqueued), and the first fire time after
    `now` becomes the next."""
    fire_at = schedule.next_fire_at
    if fire_at > now:
        return None
    following = next_after(fire_at)
    if following <= now:
        fire_at = _latest_at_or_before(now, fire_at, next_after)
        following = next_after(fire_at)
    return Firing(fire_at, following)


def _latest_at_or_before(now: datetime, earliest: datetime, next_after: NextAfter) -> datetime:
    for window in _LOOKBACK:
        start = max(now - window, earliest)
        candidate = next_after(start)
        if candidate <= now:
            while (after := next_after(candidate)) <= now:
                candidate = after
            return candidate
    return earliest


def schedule_key(name: str, fire_at: datetime) -> str:
    """The idempotency key of a fire time's task: one task per fire time, whichever
    replica enqueues it, however often."""
    return f"schedule:{name}:{fire_at.astimezone(UTC).isoformat()}"


def fire_spec(schedule: Schedule, fire_at: datetime) -> TaskSpec:
    """The task of one fire time: the template, due at `fire_at`, keyed by the fire time."""
    task = schedule.task
    return evolve(
        task,
        run_at=fire_at,
        idempotency_key=schedule_key(schedule.name, fire_at),
        labels={**task.labels, SCHEDULE_LABEL: schedule.name},
    )


def check_schedule(spec: ScheduleSpec, limits: Limits = DEFAULT_LIMITS) -> ScheduleSpec:
    """The name and the task template (as every fire time's task will be). The cron rule
    and the time zone are the calendar's to judge. Raises ValidationError."""
    check_name("name", spec.name)
    if spec.task.run_at is not None or spec.task.delay is not None:
        field = "task.run_at" if spec.task.run_at is not None else "task.delay_seconds"
        raise ValidationError(field, "a schedule's tasks run at their fire times")
    if spec.task.idempotency_key is not None:
        raise ValidationError("task.idempotency_key", "the schedule keys each fire time")
    sample = datetime(2000, 1, 1, tzinfo=UTC)
    probe = Schedule(spec.name, spec.cron, spec.timezone, spec.task, sample, 1, None, None,
                     sample, sample)  # fmt: skip
    try:
        check_spec(fire_spec(probe, sample), limits)
    except PayloadTooLarge as error:
        raise PayloadTooLarge(f"task.{error.field}", error.size, error.limit) from None
    except ValidationError as error:
        raise ValidationError(f"task.{error.field}", error.message) from None
    return spec


def template_json(task: TaskSpec) -> dict[str, Any]:
    """A schedule's task template as stored (and shown): the spec's fields a fire uses."""
    return {
        "queue": task.queue,
        "type": task.type,
        "type_version": task.type_version,
        "payload": task.payload,
        "labels": dict(task.labels),
        "priority": task.priority,
        "max_attempts": task.max_attempts,
        "retry": task.retry_policy.to_json(),
        "concurrency_key": task.concurrency_key,
    }


def template_from_json(data: Mapping[str, Any]) -> TaskSpec:
    """The inverse of `template_json`."""
    return TaskSpec(
        queue=data["queue"],
        type=data["type"],
        type_version=data["type_version"],
        payload=data["payload"],
        labels=data["labels"],
        priority=data["priority"],
        max_attempts=data["max_attempts"],
        retry_policy=RetryPolicy.from_json(data["retry"]),
        concurrency_key=data.get("concurrency_key"),  # templates stored before ADR 0030 lack it
    )
