"""A queue's operator settings: paused or not (and, later, its flow-control limits)."""

from __future__ import annotations

from datetime import datetime

from attrs import evolve, frozen


@frozen
class QueueSettings:
    """What an operator set on a queue. A queue never touched has the defaults.

    While `paused`, no lease of the queue is granted (its tasks are never claimed);
    enqueue and the fenced calls of leases already held work as always.
    """

    queue: str
    paused: bool = False
    paused_at: datetime | None = None
    updated_at: datetime | None = None


def set_paused(settings: QueueSettings, paused: bool, *, now: datetime) -> QueueSettings:
    """pause or resume; idempotent: pausing a paused queue keeps its `paused_at`."""
    if settings.paused == paused:
        return settings
    return evolve(settings, paused=paused, paused_at=now if paused else None, updated_at=now)
