"""Shared wake-ups for waiting lease requests, so that waiters never each poll the store.

Waiters of one queue are grouped by what they can claim (their type filter). Per queue,
one watcher task listens to the notifier and, at a bounded interval, gives one waiter of
each group a *turn*; only a waiter holding a turn calls the store. A waiter that claims a
full batch passes the turn on (there may be more), one that finds nothing waits again.
So N idle waiters cost about (groups / interval) claims per second, not N.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Hashable

from leaseq.ports import Notifier

log = logging.getLogger(__name__)


class Waiter:
    """One waiting lease request; `turn` is set when it may try a claim."""

    def __init__(self, group: _Group) -> None:
        self._group = group
        self._turn = asyncio.Event()

    async def wait_turn(self, timeout: float, gone: asyncio.Event | None = None) -> bool:
        """Wait for a turn (True) or until `timeout` seconds pass or `gone` is set (False)."""
        if not self._turn.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    if gone is None:
                        await self._turn.wait()
                    else:
                        await _first_of(self._turn, gone)
        if gone is not None and gone.is_set():
            return False
        if not self._turn.is_set():
            return False
        self._turn.clear()
        self._group.queue_up(self)
        return True

    def pass_turn(self) -> None:
        """Another waiter of the group may find something too: give it a turn."""
        self._group.wake_one(exclude=self)

    def give_turn(self) -> None:
        self._turn.set()

    @property
    def holds_turn(self) -> bool:
        return self._turn.is_set()


async def _first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


class _Group:
    """Waiters that would claim the same tasks, served in arrival order."""

    def __init__(self) -> None:
        self.waiters: deque[Waiter] = deque()

    def queue_up(self, waiter: Waiter) -> None:
        with contextlib.suppress(ValueError):
            self.waiters.remove(waiter)
        self.waiters.append(waiter)

    def wake_one(self, exclude: Waiter | None = None) -> None:
        for waiter in self.waiters:
            if waiter is exclude:
                continue
            if not waiter.holds_turn:
                waiter.give_turn()
                # The woken one goes to the back: the next turn goes to someone else.
                self.queue_up(waiter)
            return


class _QueueWatch:
    def __init__(self) -> None:
        self.groups: dict[Hashable, _Group] = {}
        self.task: asyncio.Task[None] | None = None

    def wake_each_group(self) -> None:
        for group in list(self.groups.values()):
            group.wake_one()


class LongPollHub:
    """Owns the per-queue watchers; `interval` bounds how stale a scheduled task may get."""

    def __init__(self, notifier: Notifier, interval: float) -> None:
        self._notifier = notifier
        self._interval = interval
        self._watches: dict[str, _QueueWatch] = {}

    @property
    def waiting(self) -> int:
        return sum(
            len(g.waiters) for watch in self._watches.values() for g in watch.groups.values()
        )

    @contextlib.asynccontextmanager
    async def waiter(self, queue: str, key: Hashable) -> AsyncIterator[Waiter]:
        """Register a waiter before its first claim, so no wake-up falls in between."""
        watch = self._watches.get(queue)
        if watch is None:
            watch = self._watches[queue] = _QueueWatch()
        group = watch.groups.get(key)
        if group is None:
            group = watch.groups[key] = _Group()
        waiter = Waiter(group)
        group.waiters.append(waiter)
        if watch.task is None or watch.task.done():
            watch.task = asyncio.create_task(self._watch(queue, watch), name=f"leaseq-wait:{queue}")
            # One loop turn: the new watcher starts listening before the first claim, so
            # an announcement made while that claim runs is heard, not dropped (a claim
            # that never yields, as the memory store's, left it no turn to start).
            await asyncio.sleep(0)
        try:
            yield waiter
        finally:
            with contextlib.suppress(ValueError):
                group.waiters.remove(waiter)
            if waiter.holds_turn:  # woken but leaving unused: the wake-up must not be lost
                group.wake_one()
            if not group.waiters and watch.groups.get(key) is group:
                del watch.groups[key]

    async def _watch(self, queue: str, watch: _QueueWatch) -> None:
        try:
            while watch.groups:
                try:
                    await self._notifier.wait(queue, self._interval)
                except Exception:  # a broken notifier must not strand waiters: poll instead
                    log.exception("notifier wait failed for queue %s", queue)
                    await asyncio.sleep(self._interval)
                watch.wake_each_group()
        finally:
            if self._watches.get(queue) is watch and not watch.groups:
                del self._watches[queue]

    async def close(self) -> None:
        tasks = [w.task for w in self._watches.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watches.clear()
