"""A queue's operator settings: paused or not, and its flow-control limits."""

from __future__ import annotations

from datetime import datetime

from attrs import evolve, frozen

from leaseq.domain.limits import NO_LIMITS, QueueLimits


@frozen
class QueueSettings:
    """What an operator set on a queue. A queue never touched has the defaults.

    While `paused`, no lease of the queue is granted (its tasks are never claimed);
    enqueue and the fenced calls of leases already held work as always. `limits` bound
    the grants of the queue (`leaseq.domain.limits`).
    """

    queue: str
    paused: bool = False
    paused_at: datetime | None = None
    updated_at: datetime | None = None
    limits: QueueLimits = NO_LIMITS


def set_paused(settings: QueueSettings, paused: bool, *, now: datetime) -> QueueSettings:
    """pause or resume; idempotent: pausing a paused queue keeps its `paused_at`."""
    if settings.paused == paused:
        return settings
    return evolve(settings, paused=paused, paused_at=now if paused else None, updated_at=now)


def set_limits(settings: QueueSettings, limits: QueueLimits, *, now: datetime) -> QueueSettings:
    """Replace the queue's limits (all three at once; None lifts one)."""
    return evolve(settings, limits=limits, updated_at=now)
