"""The transition history of a task: one event per state change (heartbeats excluded)."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from attrs import frozen

from leaseq.domain.task import ReportedTask, Task, TaskState

# History rows stay narrow: the task keeps the full last_error, an event a prefix of it.
HISTORY_ERROR_CHARS = 500


class Transition(enum.StrEnum):
    ENQUEUED = "enqueued"
    LEASED = "leased"
    COMPLETED = "completed"
    RETRIED = "retried"
    FAILED = "failed"
    RELEASED = "released"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REQUEUED = "requeued"
    DEAD_LETTERED = "dead_lettered"  # a retry or an expiry with no attempts left


# The transitions that carry an error text into the history.
_WITH_ERROR = frozenset(
    {Transition.RETRIED, Transition.FAILED, Transition.EXPIRED, Transition.DEAD_LETTERED}
)


@frozen
class TaskEvent:
    """One transition of one task, as stored in its history.

    `attempt` and `epoch` are the task's values after the transition; `worker` is the
    holder of the lease the transition begins or ends (None when no lease is involved);
    `error` is the error the transition recorded, clipped to HISTORY_ERROR_CHARS.
    """

    task_id: UUID
    at: datetime
    transition: Transition
    from_state: TaskState | None
    to_state: TaskState
    attempt: int
    epoch: int
    worker: str | None
    error: str | None


def or_dead_lettered(after: Task | ReportedTask, transition: Transition) -> Transition:
    """A retry or an expiry that used up the attempts is recorded as dead-lettered."""
    if transition in (Transition.RETRIED, Transition.EXPIRED) and after.state is TaskState.DEAD:
        return Transition.DEAD_LETTERED
    return transition


def event_of(transition: Transition, before: Task | None, after: Task, at: datetime) -> TaskEvent:
    """The history event of `before` → `after` (`before` is None for an enqueue)."""
    return TaskEvent(
        task_id=after.id,
        at=at,
        transition=transition,
        from_state=None if before is None else before.state,
        to_state=after.state,
        attempt=after.attempts,
        epoch=after.epoch,
        worker=_worker(before, after),
        error=clip_history_error(after.last_error) if transition in _WITH_ERROR else None,
    )


def clip_history_error(error: str | None) -> str | None:
    return None if error is None else error[:HISTORY_ERROR_CHARS]


def _worker(before: Task | None, after: Task) -> str | None:
    if before is not None and before.state is TaskState.LEASED and before.lease is not None:
        return before.lease.owner
    if after.state is TaskState.LEASED and after.lease is not None:
        return after.lease.owner
    return None
