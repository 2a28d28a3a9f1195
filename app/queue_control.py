"""Operator use cases on queues: pause, resume, limits, and each queue's counts with its
settings and live leases."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from leaseq.domain import QueueLimits, QueueSettings, TaskState
from leaseq.ports import QueueStats, ServiceStore


@frozen
class QueueView:
    """A queue's counts and what operators set on it."""

    stats: QueueStats
    settings: QueueSettings
    # the live leases per concurrency key (the single-queue view only)
    live_per_key: Mapping[str, int] | None = None

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

    async def set_limits(self, queue: str, limits: QueueLimits) -> QueueView:
        """Replace the queue's flow-control limits, in force at once on every replica (ADR
        0030). Raises ValidationError (nothing changed then)."""
        await self._store.set_limits(queue, limits)
        return await self.queue(queue)

    async def queue(self, queue: str) -> QueueView:
        """One queue (zeros and the defaults for a queue never used), with its live leases
        per concurrency key."""
        settings = await self._store.queue_settings(queue)
        (stats,) = await self._store.stats(queue)
        live = await self._store.live_leases(queue)
        return QueueView(stats, settings, live.per_key)

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
