"""`enqueue_tx` on each driver, on a real PostgreSQL: rolled back, no task; committed, a
pending task that is leasable and wakes a long-polling lease request; a repeated key
answers the first task; bad input is refused before the transaction is touched."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from leaseq.adapters.postgres import PostgresNotifier, open_postgres_store
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.domain import TaskState
from leaseq.ports import LeaseRequest
from leaseq.sdk import EnqueueResult, PayloadTooLarge, ValidationFailed, enqueue_tx

pytestmark = pytest.mark.postgres

# (the connection, commit, roll back)
Tx = tuple[Any, Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]
Opener = Callable[[str], contextlib.AbstractAsyncContextManager[Tx]]


def _url(url: str, scheme: str) -> str:
    return url.replace("postgresql://", f"{scheme}://", 1)


@contextlib.asynccontextmanager
async def on_asyncpg(url: str) -> AsyncIterator[Tx]:
    conn = await asyncpg.connect(url)
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield conn, transaction.commit, transaction.rollback
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def on_asyncpg_pool(url: str) -> AsyncIterator[Tx]:
    async with asyncpg.create_pool(url, min_size=1, max_size=1) as pool, pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        yield conn, transaction.commit, transaction.rollback


@contextlib.asynccontextmanager
async def on_sqlalchemy_connection(url: str) -> AsyncIterator[Tx]:
    engine = create_async_engine(_url(url, "postgresql+asyncpg"))
    try:
        async with engine.connect() as conn:
            await conn.begin()
            yield conn, conn.commit, conn.rollback
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def on_sqlalchemy_session(url: str) -> AsyncIterator[Tx]:
    engine = create_async_engine(_url(url, "postgresql+asyncpg"))
    try:
        async with AsyncSession(engine) as session:
            yield session, session.commit, session.rollback
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def on_sqlalchemy_psycopg_session(url: str) -> AsyncIterator[Tx]:
    engine = create_async_engine(_url(url, "postgresql+psycopg"))
    try:
        async with AsyncSession(engine) as session:
            yield session, session.commit, session.rollback
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def on_psycopg(url: str) -> AsyncIterator[Tx]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        yield conn, conn.commit, conn.rollback


DRIVERS = [
    on_asyncpg,
    on_asyncpg_pool,
    on_sqlalchemy_connection,
    on_sqlalchemy_session,
    on_sqlalchemy_psycopg_session,
    on_psycopg,
]


@pytest.fixture(params=DRIVERS, ids=[d.__name__.removeprefix("on_") for d in DRIVERS])
def driver(
    request: pytest.FixtureRequest,
) -> Callable[[str], contextlib.AbstractAsyncContextManager[Tx]]:
    opener: Callable[[str], contextlib.AbstractAsyncContextManager[Tx]] = request.param
    return opener


async def count(url: str, task_id: object) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM leaseq_tasks WHERE id = $1", task_id))
    finally:
        await conn.close()


async def test_a_rolled_back_transaction_leaves_no_task(pg_migrated_url: str, driver) -> None:
    async with driver(pg_migrated_url) as (conn, _, rollback):
        result = await enqueue_tx(conn, "emails", "send", {"to": "a@b.c"})
        await rollback()
    assert result.state == "pending" and not result.deduplicated
    assert await count(pg_migrated_url, result.id) == 0


async def test_a_committed_task_is_visible_leasable_and_wakes_a_waiting_lease_request(
    pg_migrated_url: str, driver
) -> None:
    store = await open_postgres_store(pg_migrated_url, pool_size=2)
    notifier = PostgresNotifier(pg_migrated_url)
    await notifier.start()
    service = TaskService(store, notifier, RandomJitter(), LongPoll(30.0, fallback_poll=30.0))
    try:
        waiting = asyncio.create_task(
            service.lease(LeaseRequest("emails", "w", 1, timedelta(seconds=30)), 25)
        )
        async with driver(pg_migrated_url) as (conn, commit, _):
            result = await enqueue_tx(conn, "emails", "send", {"to": "a@b.c"}, priority=3)
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await commit()
        async with asyncio.timeout(10):  # the fallback poll would take 30 s
            [granted] = await waiting
        assert granted.id == result.id and granted.state is TaskState.LEASED
        assert (granted.payload, granted.priority) == ({"to": "a@b.c"}, 3)
    finally:
        await service.close()
        await notifier.close()
        await store.close()


async def test_a_repeated_key_answers_the_first_task(pg_migrated_url: str, driver) -> None:
    async with driver(pg_migrated_url) as (conn, commit, _):
        first = await enqueue_tx(conn, "emails", "send", 1, idempotency_key="order:7")
        await commit()
    async with driver(pg_migrated_url) as (conn, commit, _):
        again = await enqueue_tx(conn, "emails", "send", 2, idempotency_key="order:7")
        await commit()
    assert again == EnqueueResult(first.id, "pending", True)


async def test_bad_input_is_refused_before_the_transaction_is_touched(
    pg_migrated_url: str, driver
) -> None:
    async with driver(pg_migrated_url) as (conn, commit, _):
        with pytest.raises(ValidationFailed) as refused:
            await enqueue_tx(conn, "emails", "send", {}, priority=5000)
        assert refused.value.errors == [
            {"field": "priority", "message": "must be an integer from -1000 to 1000"}
        ]
        with pytest.raises(PayloadTooLarge):
            await enqueue_tx(conn, "emails", "send", "x" * (1024 * 1024 + 1))
        with pytest.raises(ValidationFailed) as refused:
            await enqueue_tx(conn, "emails", "send", {}, delay=1, run_at=None, labels={"": "v"})
        assert refused.value.errors[0]["field"] == "labels"
        result = await enqueue_tx(conn, "emails", "send", {})  # the transaction lives on
        await commit()
    assert await count(pg_migrated_url, result.id) == 1


async def test_a_delay_counts_on_the_database_clock(pg_migrated_url: str, driver) -> None:
    store = await open_postgres_store(pg_migrated_url, pool_size=1)
    try:
        async with driver(pg_migrated_url) as (conn, commit, _):
            result = await enqueue_tx(conn, "emails", "send", {}, delay=timedelta(minutes=5))
            await commit()
        task = await store.get(result.id)
    finally:
        await store.close()
    assert task.run_at - task.created_at == timedelta(minutes=5)


async def test_the_concurrency_key_is_kept_and_a_bad_one_refused(
    pg_migrated_url: str, driver
) -> None:
    store = await open_postgres_store(pg_migrated_url, pool_size=1)
    try:
        async with driver(pg_migrated_url) as (conn, commit, _):
            with pytest.raises(ValidationFailed) as refused:
                await enqueue_tx(conn, "emails", "send", {}, concurrency_key="")
            assert refused.value.errors[0]["field"] == "concurrency_key"
            result = await enqueue_tx(conn, "emails", "send", {}, concurrency_key="tenant-1")
            await commit()
        assert (await store.get(result.id)).concurrency_key == "tenant-1"
    finally:
        await store.close()


async def test_enqueue_tx_refuses_a_connection_of_no_supported_driver() -> None:
    with pytest.raises(TypeError, match="asyncpg Connection"):
        await enqueue_tx(object(), "emails", "send", {})


def test_importing_the_sdk_imports_no_database_driver() -> None:
    probe = (
        "import sys, leaseq.sdk; "
        "print([m for m in ('asyncpg', 'psycopg', 'sqlalchemy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
