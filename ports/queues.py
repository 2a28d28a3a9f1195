"""The queue-settings port: pause and resume a queue, read what operators set."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol

from leaseq.domain import QueueSettings


class QueueControl(Protocol):
    async def set_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> QueueSettings:
        """Pause or resume `queue` (idempotent), for every replica at once: while paused,
        `TaskStore.lease` grants none of its tasks; enqueue and the fenced calls of leases
        already held go on as always. Resuming wakes the queue's lease waiters. The
        setting is stored (it survives restarts). Raises ValidationError (queue name)."""
        ...

    async def queue_settings(self, queue: str) -> QueueSettings:
        """What is set on `queue` (the defaults for a queue never set)."""
        ...

    async def all_queue_settings(self) -> builtins.list[QueueSettings]:
        """The settings of every queue that has any, sorted by queue name."""
        ...
