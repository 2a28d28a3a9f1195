"""The fenced database write example on a real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import pytest

from examples.db_write import TotalWriter, create_schema, write_total
from leaseq.sdk import Client, RetrySettings, TaskContext, Worker
from tests.examples.conftest import running

pytestmark = pytest.mark.postgres

DAY = date(2026, 11, 28)
FAST_RETRY = RetrySettings(base_seconds=0.0, factor=1.0, max_seconds=0.0, jitter=0.0)


@pytest.fixture
async def pool(pg_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(pg_database_url, min_size=1, max_size=4)
    await create_schema(pool)
    try:
        yield pool
    finally:
        await pool.close()


async def rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await pool.fetch("SELECT day, total, epoch FROM daily_totals")]


async def test_a_stale_workers_write_is_refused_after_a_newer_epoch_wrote(
    pool: asyncpg.Pool,
) -> None:
    assert await write_total(pool, DAY, 100, epoch=1)
    assert await write_total(pool, DAY, 250, epoch=2)  # the task was taken over
    assert not await write_total(pool, DAY, 999, epoch=1)  # the old holder finishes late
    assert await rows(pool) == [(DAY, 250, 2)]


async def test_the_same_epoch_cannot_write_twice(pool: asyncpg.Pool) -> None:
    assert await write_total(pool, DAY, 100, epoch=3)
    assert not await write_total(pool, DAY, 100, epoch=3)
    assert await rows(pool) == [(DAY, 100, 3)]


async def test_a_redelivered_task_leaves_one_row_written_by_its_latest_lease(
    client: Client, pool: asyncpg.Pool
) -> None:
    writer = TotalWriter(pool)
    worker = Worker(client, queue="totals", lease_seconds=2, wait_seconds=0.5)

    @worker.handler("write_total")
    async def crash_after_writing_once(ctx: TaskContext, payload: Any) -> Any:
        outcome = await writer(ctx, payload)
        if ctx.attempt == 1:  # the worker dies after the side effect, before reporting
            raise RuntimeError("crashed after writing")
        return outcome

    queued = await client.enqueue(
        "totals",
        "write_total",
        {"day": DAY.isoformat(), "amounts": [40, 60, 25]},
        retry=FAST_RETRY,
    )
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=10)
    assert (done.state, done.epoch) == ("succeeded", 2)
    assert done.result == {"day": DAY.isoformat(), "total": 125, "written": True}
    assert await rows(pool) == [(DAY, 125, 2)]
