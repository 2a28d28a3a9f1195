"""What a burst into a table whose statistics say empty costs a lease (ADR 0034), and what
the store's `refresh_planner_statistics` (the service's maintenance, every 2 s) gives back.

    PEERBENCH_PGPORT=55432 python bench/stale_statistics.py --tasks 10000 100000

The server is the one the other benchmarks use (PEERBENCH_PGHOST/PORT/USER, bench/harness.py).

For each size and each way the table was emptied, on a fresh database: a connection
prepares the lease statement while the table is empty (as a worker polling an idle queue
does), N tasks arrive, and one lease of 10 is timed (median of 3) on that plan; on a plan
made after the burst (what preparing again, `statements.PLAN_LIFETIME`, does); and on the
first plan again after the store's ANALYZE (which invalidates it). One JSON line each.
  truncated  the queue drained and VACUUM returned its pages: 0 pages, 0 rows;
  kept       VACUUM kept the pages (`TRUNCATE false`, as on a busy table): N pages, 0 rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import fresh_database

from leaseq.adapters.postgres import PostgresTaskStore, open_postgres_store
from leaseq.adapters.postgres import queries as q
from leaseq.adapters.postgres.statements import SESSION, Positional
from leaseq.domain import TaskSpec

LEASE = Positional(q.LEASE)
PARAMS = {
    "now": None,
    "queue": "bench",
    "types": None,
    "versions": None,
    "limit": 10,
    "owner": "w",
    "tokens": [f"t{n}" for n in range(10)],
    "lease_us": 60_000_000,
    "request_id": None,
    "expired_error": q.EXPIRED,
}


async def _fill(store: PostgresTaskStore, queue: str, n: int) -> None:
    for start in range(0, n, 1000):
        stop = min(n, start + 1000)
        await store.enqueue(
            [TaskSpec(queue=queue, type="noop", payload={"i": i}) for i in range(start, stop)]
        )


async def _lease_ms(statement: Any) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        granted = await statement.fetch(*LEASE.args(PARAMS))
        times.append((time.perf_counter() - started) * 1000)
        assert len(granted) == 10
    return round(statistics.median(times), 2)


async def measure(args: argparse.Namespace, n: int, emptied: str) -> dict[str, Any]:
    url = await fresh_database(args.db, "on")
    setup = await asyncpg.connect(url)
    store = await open_postgres_store(url, pool_size=1)
    first = await asyncpg.connect(url, server_settings=SESSION)
    later = await asyncpg.connect(url, server_settings=SESSION)
    try:
        await setup.execute("ALTER TABLE leaseq_tasks SET (autovacuum_enabled = false)")
        await setup.execute("ALTER TABLE leaseq_task_events SET (autovacuum_enabled = false)")
        if emptied == "kept":
            await _fill(store, "old", n)
            await setup.execute("DELETE FROM leaseq_tasks")
            await setup.execute("VACUUM (TRUNCATE false) leaseq_tasks")
        else:
            await setup.execute("VACUUM ANALYZE leaseq_tasks")
        before = await first.prepare(LEASE.sql)
        assert await before.fetch(*LEASE.args(PARAMS)) == []  # its plan is made now, empty
        await _fill(store, "bench", n)
        stale = await _lease_ms(before)
        again = await _lease_ms(await later.prepare(LEASE.sql))
        # As the maintenance does, every 0.25 s here: the inserting backend's counts
        # reach pg_stat_user_tables within about a second of its last commit.
        filled, analyzed, analyze_ms = time.perf_counter(), [], 0.0
        while not analyzed and time.perf_counter() - filled < 10:
            await asyncio.sleep(0.25)
            started = time.perf_counter()
            analyzed = await store.refresh_planner_statistics()
            analyze_ms = round((time.perf_counter() - started) * 1000, 1)
        seen_after_s = round(time.perf_counter() - filled, 2)
        after = await _lease_ms(before)
    finally:
        for conn in (first, later, setup):
            await conn.close()
        await store.close()
    return {
        "tasks": n,
        "emptied": emptied,
        "lease_ms_plan_made_empty": stale,
        "lease_ms_plan_made_again": again,
        "analyzed": analyzed,
        "analyze_ms": analyze_ms,
        "analyzed_after_s": seen_after_s,
        "lease_ms_after_analyze": after,
    }


async def main(args: argparse.Namespace) -> None:
    for n in args.tasks:
        for emptied in ("truncated", "kept"):
            print(json.dumps(await measure(args, n, emptied)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default="leaseq_bench_stale")
    parser.add_argument("--tasks", type=int, nargs="*", default=[10_000, 100_000])
    asyncio.run(main(parser.parse_args()))
