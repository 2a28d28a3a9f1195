"""PostgreSQL only: LISTEN/NOTIFY wake-ups reach waiters, and survive a killed connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import asyncpg
import pytest

from leaseq.adapters.postgres import PostgresNotifier, PostgresTaskStore, open_postgres_store
from leaseq.domain import TaskSpec


@pytest.fixture
async def store(pg_migrated_url: str) -> AsyncIterator[PostgresTaskStore]:
    opened = await open_postgres_store(pg_migrated_url, pool_size=2)
    yield opened
    await opened.close()


@pytest.fixture
async def notifier(pg_migrated_url: str) -> AsyncIterator[PostgresNotifier]:
    listening = PostgresNotifier(pg_migrated_url, reconnect_delay=0.05)
    await listening.start()
    yield listening
    await listening.close()


async def _woken_by(notifier: PostgresNotifier, queue: str, action: Awaitable[object]) -> bool:
    waiter = asyncio.create_task(notifier.wait(queue, timeout=10))
    await asyncio.sleep(0)  # let the waiter register its event before the action runs
    await action
    return await waiter


async def test_an_enqueue_wakes_a_waiter_of_that_queue(
    store: PostgresTaskStore, notifier: PostgresNotifier
) -> None:
    other = asyncio.create_task(notifier.wait("other", timeout=0.5))
    enqueue = asyncio.create_task(store.enqueue([TaskSpec(queue="mail", type="t")]))

    assert await _woken_by(notifier, "mail", enqueue)
    assert not await other, "a waiter of another queue was woken"


async def test_a_scheduled_task_wakes_nobody(
    store: PostgresTaskStore, notifier: PostgresNotifier
) -> None:
    ready = asyncio.create_task(store.enqueue([TaskSpec(queue="mail", type="t")]))
    assert await _woken_by(notifier, "mail", ready)  # consume this wake-up before we wait
    [first] = ready.result()
    later = first.task.created_at.replace(year=first.task.created_at.year + 1)
    waiter = asyncio.create_task(notifier.wait("mail", timeout=0.5))
    await asyncio.sleep(0)
    await store.enqueue([TaskSpec(queue="mail", type="t", run_at=later)])

    assert not await waiter


async def test_the_notifier_listens_again_after_its_connection_is_killed(
    pg_migrated_url: str, store: PostgresTaskStore, notifier: PostgresNotifier
) -> None:
    old_pid = notifier.backend_pid
    assert old_pid is not None
    admin = await asyncpg.connect(pg_migrated_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", old_pid)
    finally:
        await admin.close()
    async with asyncio.timeout(10):
        while notifier.backend_pid in (None, old_pid):
            await notifier.wait_connected(1)
            await asyncio.sleep(0.01)  # the old connection may not have noticed yet

    enqueue = asyncio.create_task(store.enqueue([TaskSpec(queue="mail", type="t")]))
    assert await _woken_by(notifier, "mail", enqueue)
