"""What the SQL enqueue function costs one task per call: migration 0007's function against
0008's (ADR 0040), arms alternated, one JSON line per measurement.

    python bench/sql_enqueue.py --n 3000 --rounds 3

Each arm on a fresh database migrated to head; N tasks enqueued one per call (autocommit:
each its own transaction) with `enqueue_tx` on an asyncpg connection, each with its own
idempotency key, while a second connection LISTENs for the wake-ups as a running service
does:
  0007   the function as migration 0007 left it (dynamic insert, `leaseq_uuid7()`);
  0008   the function of migration 0008 (static insert, the id made in place);
  bare   for scale, not a path: a plain INSERT of the same row (no function, no checks,
         no wake-up).
Reports tasks/s and the CPU per task of this process and of the PostgreSQL cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import CpuMeter, emit, find_postmaster, fresh_database, settle

from leaseq.adapters.postgres.migrations.enqueue_function import (
    ENQUEUE_RESULT_ARGS,
    enqueue_result_function,
    pin_search_path,
)
from leaseq.adapters.system import Uuid7Generator
from leaseq.sdk.transactional import enqueue_tx

ARMS = ("0007", "0008", "bare")
QUEUE = "bench"
BARE = """INSERT INTO leaseq_tasks (id, queue, type, type_version, payload, labels, priority,
    run_at, attempts, max_attempts, retry_base, retry_factor, retry_max, retry_jitter,
    idempotency_key, state, epoch, created_at, updated_at)
    VALUES ($1, $2, 'noop', 1, CAST($3 AS json), '{}', 0, now(), 0, 20, 1.0, 2.0, 3600.0, 0.2,
        $4, 'pending', 0, now(), now())
    ON CONFLICT DO NOTHING"""


async def measure(arm: str, n: int, run: int) -> dict[str, Any]:
    url = await fresh_database("leaseq_sql_enqueue", "on")
    conn = await asyncpg.connect(url)
    listener = await asyncpg.connect(url)
    try:
        if arm == "0007":  # what 0008's downgrade restores
            old = enqueue_result_function(
                with_concurrency_key=True, writes_enqueued_event=False, replace=True
            )
            await conn.execute(old)
            await conn.execute(pin_search_path(f"leaseq_enqueue_result({ENQUEUE_RESULT_ARGS})"))
        await settle(url)
        await listener.add_listener("leaseq_wakeup", lambda *_: None)
        ids = Uuid7Generator()

        async def one(i: int) -> None:
            if arm == "bare":
                await conn.execute(BARE, ids.new_id(), QUEUE, json.dumps({"i": i}), f"k:{i}")
            else:
                await enqueue_tx(conn, QUEUE, "noop", {"i": i}, idempotency_key=f"k:{i}")

        for i in range(-50, 0):  # the session's plans, untimed
            await one(i)
        meter = CpuMeter().start()
        for i in range(n):
            await one(i)
        cpu = meter.stop(n)
        rows = await conn.fetchval("SELECT count(*) FROM leaseq_tasks")
    finally:
        await conn.close()
        await listener.close()
    return {
        "measure": "sql_enqueue",
        "arm": arm,
        "n": n,
        "run": run,
        "verified_rows": rows,
        "jobs_per_s": round(n / cpu["wall_s"], 1),
        "pg_cpu_us_per_task": round(cpu["pg_cpu_s"] / n * 1e6),
        "py_cpu_us_per_task": round(cpu["py_cpu_s"] / n * 1e6),
        **cpu,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--arms", nargs="*", default=list(ARMS), choices=ARMS)
    args = ap.parse_args()
    await find_postmaster()  # for PostgreSQL's CPU
    for run in range(1, args.rounds + 1):
        for arm in args.arms:
            emit(await measure(arm, args.n, run))


if __name__ == "__main__":
    asyncio.run(main())
