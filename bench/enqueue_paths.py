"""Batch enqueue: today's one-statement paths against asyncpg's COPY (issue 21, item 5).

    python bench/enqueue_paths.py --n 20000 --batch 1000 --rounds 3

Each round, on a fresh database per path, N no-op tasks in batches:
  each    PostgresTaskStore.enqueue_each: one INSERT ... SELECT over arrays (no keys) and
          its wake-ups in the same statement (no history row: ADR 0036).
  keyed   PostgresTaskStore.enqueue_keyed: the same with an idempotency key per task (what
          the SDK sends), deduplicated by the unique index.
  copy    a ceiling, not a store path: one transaction of COPY into leaseq_tasks (asyncpg
          copy_records_to_table, binary), ids made here; no deduplication, no answer rows,
          no wake-up.
One JSON line per measurement: tasks/s, CPU of this process and of PostgreSQL per 1,000
tasks, WAL per task.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import CpuMeter, WalMeter, emit, find_postmaster, fresh_database, settle

from leaseq.adapters.postgres import open_postgres_store
from leaseq.adapters.postgres.engine import libpq_url
from leaseq.adapters.system import Uuid7Generator
from leaseq.domain import RetryPolicy, TaskSpec

QUEUE = "bench"
TASK_COLUMNS = (
    *("id", "queue", "type", "type_version", "payload", "labels", "priority", "run_at"),
    *("attempts", "max_attempts", "retry_base", "retry_factor", "retry_max", "retry_jitter"),
    *("state", "epoch", "created_at", "updated_at"),
)


async def by_store(url: str, n: int, batch: int, keyed: bool) -> None:
    store = await open_postgres_store(url, pool_size=2)
    spec = TaskSpec(queue=QUEUE, type="noop")
    try:
        for start in range(0, n, batch):
            payloads = [{"i": i} for i in range(start, min(n, start + batch))]
            if keyed:
                keys = [f"k:{start + j}" for j in range(len(payloads))]
                await store.enqueue_keyed(spec, payloads, keys)
            else:
                await store.enqueue_each(spec, payloads)
    finally:
        await store.close()


async def by_copy(url: str, n: int, batch: int) -> None:
    conn = await asyncpg.connect(libpq_url(url))
    policy = RetryPolicy()
    ids = Uuid7Generator()
    try:
        for start in range(0, n, batch):
            now = datetime.now(UTC)
            size = min(batch, n - start)
            made = ids.new_ids(size)
            tasks = [
                (
                    task_id,
                    QUEUE,
                    "noop",
                    1,
                    json.dumps({"i": start + j}),
                    "{}",
                    0,
                    now,
                    0,
                    20,
                    policy.base_seconds,
                    policy.factor,
                    policy.max_seconds,
                    policy.jitter,
                    "pending",
                    0,
                    now,
                    now,
                )
                for j, task_id in enumerate(made)
            ]
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "leaseq_tasks", records=tasks, columns=TASK_COLUMNS
                )
    finally:
        await conn.close()


async def measure(path: str, n: int, batch: int, run: int) -> dict[str, Any]:
    url = await fresh_database("leaseq_enqueue_paths", "on")
    await settle(url)
    wal = await WalMeter(url).start()
    meter = CpuMeter().start()
    if path == "copy":
        await by_copy(url, n, batch)
    else:
        await by_store(url, n, batch, keyed=path == "keyed")
    cpu = meter.stop(n)
    await wal.end()
    cpu |= await wal.result(n)
    return {
        "measure": "enqueue_path",
        "path": path,
        "batch": batch,
        "n": n,
        "run": run,
        "jobs_per_s": round(n / cpu["wall_s"], 1),
        **cpu,
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    await find_postmaster()  # for PostgreSQL's CPU
    for run in range(1, args.rounds + 1):
        for path in ("each", "keyed", "copy"):
            emit(await measure(path, args.n, args.batch, run))


if __name__ == "__main__":
    asyncio.run(main())
