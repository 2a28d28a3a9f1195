"""Example: a database write fenced by the lease epoch, so a stale worker's write is refused.

A worker may keep running after its lease is lost (a long GC pause, a partition, a thread
that cannot be cancelled) while another worker already took the task over with a higher
epoch. Every write carries the writer's epoch, and the upsert only replaces a row whose
epoch is lower: the newer holder's write stands, the stale one changes nothing.

Run it:  DATABASE_URL=postgresql://... leaseq worker examples.db_write:build_worker
"""

from __future__ import annotations

import asyncio
import os
from datetime import date
from typing import Any

import asyncpg

from leaseq.sdk import Client, TaskContext, Worker

SCHEMA = """
CREATE TABLE IF NOT EXISTS daily_totals (
    day     date PRIMARY KEY,
    total   bigint NOT NULL,
    epoch   bigint NOT NULL
)
"""

# The fence: the row changes only when the writer's epoch is newer than the stored one.
FENCED_UPSERT = """
INSERT INTO daily_totals AS target (day, total, epoch) VALUES ($1, $2, $3)
ON CONFLICT (day) DO UPDATE SET total = EXCLUDED.total, epoch = EXCLUDED.epoch
WHERE target.epoch < EXCLUDED.epoch
RETURNING epoch
"""


async def create_schema(pool: asyncpg.Pool) -> None:
    await pool.execute(SCHEMA)


async def write_total(pool: asyncpg.Pool, day: Any, total: int, *, epoch: int) -> bool:
    """True when the write was applied; False when a newer epoch already wrote the row."""
    return await pool.fetchval(FENCED_UPSERT, day, total, epoch) is not None


class TotalWriter:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        day = date.fromisoformat(payload["day"])
        total = sum(int(amount) for amount in payload["amounts"])
        written = await write_total(self.pool, day, total, epoch=ctx.epoch)
        if not written:
            ctx.logger.warning("a newer lease already wrote this total; nothing changed")
        return {"day": payload["day"], "total": total, "written": written}


async def build_worker_async(client: Client, database_url: str) -> Worker:
    pool = await asyncpg.create_pool(database_url)
    await create_schema(pool)
    worker = Worker(client, queue="totals", concurrency=10)
    worker.handler("write_total", version=1)(TotalWriter(pool))
    return worker


def build_worker(client: Client) -> Worker:
    """For `leaseq worker`: the pool is opened lazily on the first task."""
    worker = Worker(client, queue="totals", concurrency=10)
    url = os.environ["DATABASE_URL"]
    writer: TotalWriter | None = None
    opening = asyncio.Lock()

    @worker.handler("write_total", version=1)
    async def write(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal writer
        async with opening:
            if writer is None:
                pool = await asyncpg.create_pool(url)
                await create_schema(pool)
                writer = TotalWriter(pool)
        return await writer(ctx, payload)

    return worker
