"""Operator use cases on queues: pause, resume, and each queue's counts with its settings."""

from __future__ import annotations

from attrs import frozen

from leaseq.domain import QueueSettings, TaskState
from leaseq.ports import QueueStats, ServiceStore


@frozen
class QueueView:
    """A queue's counts and what operators set on it."""

    stats: QueueStats
    settings: QueueSettings

    @property
    def queue(self) -> str:
        return self.stats.queue

    @property
    def paused(self) -> bool:
        return self.settings.paused


class QueueAdmin:
    def __init__(self, store: ServiceStore) -> None:
        self._store = store

    async def pause(self, queue: str) -> QueueView:
        """No lease of the queue is granted until it is resumed (enqueue goes on, leases
        held finish as usual). Idempotent. Raises ValidationError."""
        await self._store.set_paused(queue, True)
        return await self.queue(queue)

    async def resume(self, queue: str) -> QueueView:
        """Leases are granted again; waiting lease requests are woken. Idempotent."""
        await self._store.set_paused(queue, False)
        return await self.queue(queue)

    async def queue(self, queue: str) -> QueueView:
        """One queue (zeros and the defaults for a queue never used)."""
        settings = await self._store.queue_settings(queue)
        (stats,) = await self._store.stats(queue)
        return QueueView(stats, settings)

    async def queues(self) -> list[QueueView]:
        """Every queue that holds tasks or has settings, sorted by name."""
        stats = {s.queue: s for s in await self._store.stats()}
        settings = {s.queue: s for s in await self._store.all_queue_settings()}
        return [
            QueueView(stats.get(name) or _empty(name), settings.get(name) or QueueSettings(name))
            for name in sorted(stats.keys() | settings.keys())
        ]


def _empty(queue: str) -> QueueStats:
    return QueueStats(queue, dict.fromkeys(TaskState, 0), 0, 0, None)
