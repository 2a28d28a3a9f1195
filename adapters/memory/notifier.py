"""Wake-ups within one process: one asyncio.Event per queue, shared by all its waiters."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from uuid import UUID


class InMemoryNotifier:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        # per awaited task; an event no waiter holds any more goes away by itself
        self._finals: weakref.WeakValueDictionary[UUID, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )

    async def start(self) -> None:
        return None

    async def notify(self, queue: str) -> None:
        self.notify_now(queue)

    def notify_now(self, queue: str) -> None:
        event = self._events.pop(queue, None)
        if event is not None:
            event.set()

    async def wait(self, queue: str, timeout: float) -> bool:
        event = self._events.get(queue)
        if event is None:
            event = self._events[queue] = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
                return True
        return False

    def final_event(self, task_id: UUID) -> asyncio.Event:
        event = self._finals.get(task_id)
        if event is None:
            event = self._finals[task_id] = asyncio.Event()
        return event

    def notify_final_now(self, task_id: UUID) -> None:
        """`task_id` reached a final state: wake its waiters."""
        event = self._finals.pop(task_id, None)
        if event is not None:
            event.set()

    async def close(self) -> None:
        for event in [*self._events.values(), *self._finals.values()]:
            event.set()
        self._events.clear()
        self._finals.clear()
