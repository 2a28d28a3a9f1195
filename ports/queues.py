"""The queue-settings port: pause and resume a queue, limit its flow, read what is set."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol

from leaseq.domain import LiveLeases, QueueLimits, QueueSettings


class QueueControl(Protocol):
    async def set_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> QueueSettings:
        """Pause or resume `queue` (idempotent), for every replica at once: while paused,
        `TaskStore.lease` grants none of its tasks; enqueue and the fenced calls of leases
        already held go on as always. Resuming wakes the queue's lease waiters. The
        setting is stored (it survives restarts). Raises ValidationError (queue name)."""
        ...

    async def set_limits(
        self, queue: str, limits: QueueLimits, *, now: datetime | None = None
    ) -> QueueSettings:
        """Replace `queue`'s flow-control limits (all three; None lifts one), stored and in
        force at the next grant on every replica (ADR 0030): from then on `TaskStore.lease`
        grants a task of the queue only while the queue holds fewer than `concurrency` live
        leases, its key fewer than `concurrency_per_key`, and the rate bucket a whole
        token; grants of equal priority go round-robin across concurrency keys. An expired
        or ended lease frees its slot at once. Setting limits refills the rate bucket and
        wakes the queue's lease waiters. Leases already granted are untouched. Raises
        ValidationError (queue name, a limit out of bounds) before anything is written."""
        ...

    async def live_leases(self, queue: str, *, now: datetime | None = None) -> LiveLeases:
        """The leases of `queue` live at `now`: in all and per concurrency key. Raises
        ValidationError (queue name)."""
        ...

    async def queue_settings(self, queue: str) -> QueueSettings:
        """What is set on `queue` (the defaults for a queue never set)."""
        ...

    async def all_queue_settings(self) -> builtins.list[QueueSettings]:
        """The settings of every queue that has any, sorted by queue name (code point order)."""
        ...
