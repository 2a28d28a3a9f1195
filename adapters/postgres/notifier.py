"""PostgresNotifier: LISTEN on a dedicated asyncpg connection, wake per-queue waiters.

Statements of the store send `pg_notify('leaseq_wakeup', queue)` in the transaction that
makes tasks ready, so every replica's waiters hear about every replica's tasks. One
asyncio.Event per queue is shared by all its waiters (as in the memory notifier). A lost
connection is reopened with backoff; wake-ups sent meanwhile are lost, which costs only
latency: waiters also poll (`LongPoll.fallback_poll`), and everyone is woken on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any
from uuid import UUID

import asyncpg

from leaseq.adapters.postgres.engine import libpq_url
from leaseq.adapters.postgres.queries import CHANNEL, FINAL_CHANNEL

log = logging.getLogger(__name__)


class PostgresNotifier:
    def __init__(self, url: str, *, reconnect_delay: float = 0.2, max_delay: float = 5.0) -> None:
        self._url = libpq_url(url)
        self._events: dict[str, asyncio.Event] = {}
        # per awaited task (ADR 0028); an event no waiter holds any more goes away
        self._finals: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )
        self._reconnect_delay = reconnect_delay
        self._max_delay = max_delay
        self._conn: Any = None
        self._runner: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._closed = False

    @property
    def backend_pid(self) -> int | None:
        """The server process of the LISTEN connection (for operators and fault tests)."""
        conn = self._conn
        return None if conn is None else int(conn.get_server_pid())

    async def start(self) -> None:
        """Open the LISTEN connection; returns once it listens (keeps trying in the
        background if the database is down now)."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="leaseq-listen")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self._connected.wait()

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected.wait()
                return True
        return False

    async def notify(self, queue: str) -> None:
        conn = self._conn
        if conn is None:
            self._wake(queue)  # at least this process's waiters hear it
            return
        try:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, queue)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            self._wake(queue)

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
        key = str(task_id)
        event = self._finals.get(key)
        if event is None:
            event = self._finals[key] = asyncio.Event()
        return event

    async def close(self) -> None:
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self._disconnect()
        for event in [*self._events.values(), *self._finals.values()]:
            event.set()
        self._events.clear()
        self._finals.clear()

    # -- internals -------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._reconnect_delay
        while not self._closed:
            try:
                await self._listen()
                delay = self._reconnect_delay
                await self._lost.wait()
                log.warning("the LISTEN connection was lost; reconnecting")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                log.warning("cannot LISTEN (%s); retrying in %.1fs", exc, delay)
            await self._disconnect()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    async def _listen(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self._url, timeout=10)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notification)
        await conn.add_listener(FINAL_CHANNEL, self._on_final)
        self._conn = conn
        self._connected.set()
        self._wake_all()  # anything announced while we were away

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        self._connected.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.terminate()

    def _on_notification(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._wake(payload)

    def _on_final(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        event = self._finals.pop(payload, None)
        if event is not None:
            event.set()

    def _wake(self, queue: str) -> None:
        event = self._events.pop(queue, None)
        if event is not None:
            event.set()

    def _wake_all(self) -> None:
        events, self._events = self._events, {}
        finals = list(self._finals.values())
        self._finals.clear()
        for event in [*events.values(), *finals]:
            event.set()
