"""Wake-ups within one process: one asyncio.Event per queue, shared by all its waiters."""

from __future__ import annotations

import asyncio
import contextlib


class InMemoryNotifier:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

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

    async def close(self) -> None:
        for event in self._events.values():
            event.set()
        self._events.clear()
