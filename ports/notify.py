"""The wake-up port: lease requests wait on it instead of polling the database."""

from __future__ import annotations

import asyncio
from typing import Protocol
from uuid import UUID


class Notifier(Protocol):
    """Tells waiting lease requests that a queue may have ready tasks.

    A wake-up is a hint, never a promise: a woken waiter still claims through the store
    and may find nothing. Missing a wake-up costs latency, not correctness, because
    waiters also poll at a bounded interval.
    """

    async def start(self) -> None:
        """Begin listening (e.g. open the LISTEN connection)."""
        ...

    async def notify(self, queue: str) -> None:
        """Announce that `queue` may have ready tasks."""
        ...

    async def wait(self, queue: str, timeout: float) -> bool:
        """Wait until `queue` is announced or `timeout` seconds pass; True when woken."""
        ...

    def final_event(self, task_id: UUID) -> asyncio.Event:
        """The event set when `task_id` is next announced final (or when announcements
        may have been missed, e.g. on reconnect). Waiters of one task share it; take it
        before reading the task's state, so that no announcement falls in between."""
        ...

    async def close(self) -> None: ...
