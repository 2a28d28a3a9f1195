"""The use cases of the queue service; every inbound adapter (HTTP, in-process SDK) calls these."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from attrs import frozen

from leaseq.app.long_poll import LongPollHub
from leaseq.domain import JSON, DomainError, Enqueued, Task, TaskEvent, TaskSpec
from leaseq.ports import (
    JitterSource,
    LeaseRequest,
    Notifier,
    Outcome,
    QueueStats,
    Retry,
    TaskFilter,
    TaskPage,
    TaskStore,
)


@frozen
class LongPoll:
    """How lease requests wait: at most `max_wait` seconds; every `fallback_poll` seconds
    one waiter per (queue, type filter) looks at the store again, for scheduled tasks,
    expired leases and missed wake-ups."""

    max_wait: float = 20.0
    fallback_poll: float = 1.0


class TaskService:
    """Producer, worker and operator use cases over one task store."""

    def __init__(
        self,
        store: TaskStore,
        notifier: Notifier,
        jitter: JitterSource,
        long_poll: LongPoll = LongPoll(),
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._jitter = jitter
        self._long_poll = long_poll
        self._hub = LongPollHub(notifier, long_poll.fallback_poll)

    @property
    def waiting(self) -> int:
        """How many lease requests are waiting right now (for metrics)."""
        return self._hub.waiting

    async def close(self) -> None:
        """Stop the long-poll watchers; waiting requests answer with nothing."""
        await self._hub.close()

    # producers
    async def enqueue(self, specs: Sequence[TaskSpec]) -> list[Enqueued]:
        return await self._store.enqueue(specs)

    # workers
    async def lease(self, request: LeaseRequest, wait_seconds: float = 0.0) -> list[Task]:
        """Claim ready tasks; when none is ready, wait up to `wait_seconds` for one."""
        wait = min(max(wait_seconds, 0.0), self._long_poll.max_wait)
        if wait <= 0:
            return await self._store.lease(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        async with self._hub.waiter(request.queue, request.types) as waiter:
            while True:
                granted = await self._store.lease(request)
                if granted:
                    if len(granted) >= request.limit:
                        waiter.pass_turn()  # a full batch: the queue may hold more
                    return granted
                remaining = deadline - loop.time()
                if remaining <= 0 or not await waiter.wait_turn(remaining):
                    return []

    async def heartbeat(self, task_id: UUID, token: str, lease_for: timedelta) -> Task:
        return await self._store.heartbeat(task_id, token, lease_for=lease_for)

    async def complete(self, task_id: UUID, token: str, result: JSON = None) -> Task:
        return await self._store.complete(task_id, token, result)

    async def retry(
        self, task_id: UUID, token: str, error: str, delay: timedelta | None = None
    ) -> Task:
        return await self._store.retry(
            task_id, token, error, delay=delay, jitter_draw=self._jitter.draw()
        )

    async def fail(self, task_id: UUID, token: str, error: str) -> Task:
        return await self._store.fail(task_id, token, error)

    async def release(self, task_id: UUID, token: str) -> Task:
        return await self._store.release(task_id, token)

    async def report(self, outcomes: Sequence[Outcome]) -> list[Task | DomainError]:
        drawn = [
            Retry(o.task_id, o.token, o.error, o.delay, self._jitter.draw())
            if isinstance(o, Retry)
            else o
            for o in outcomes
        ]
        return await self._store.report(drawn)

    # operators
    async def get(self, task_id: UUID) -> Task:
        return await self._store.get(task_id)

    async def list(self, filter: TaskFilter) -> TaskPage:
        return await self._store.list(filter)

    async def history(self, task_id: UUID, limit: int = 100) -> builtins.list[TaskEvent]:
        return await self._store.history(task_id, limit=limit)

    async def cancel(self, task_id: UUID) -> Task:
        return await self._store.cancel(task_id)

    async def requeue(self, task_id: UUID) -> Task:
        return await self._store.requeue(task_id)

    async def stats(self, queue: str | None = None) -> builtins.list[QueueStats]:
        return await self._store.stats(queue)


__all__ = ["LongPoll", "TaskService"]
