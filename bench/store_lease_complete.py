"""Lease + complete throughput of PostgresTaskStore itself (no HTTP), one JSON line per run.

    python bench/store_lease_complete.py --url postgresql://postgres@127.0.0.1:5432/postgres \
        --n 20000 --batches 1 10 100 --consumers 1 4

For every (batch k, consumers C): a fresh database is created and migrated, N tasks are
enqueued untimed (batches of 1000), CHECKPOINT; then C consumer coroutines (one pool of C
connections) loop `lease(limit=k)` then `complete` (k = 1) or `report` (one statement for
the batch) until the queue is empty. jobs/s = N / wall seconds. Mirrors the raw floor of
../shared/bench/peers/bench_raw_floor.py (claim + ack per batch).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from datetime import timedelta
from importlib.metadata import version

import asyncpg

from leaseq.adapters.postgres import PostgresTaskStore, migrate, open_postgres_store
from leaseq.adapters.postgres.engine import libpq_url
from leaseq.domain import TaskSpec
from leaseq.ports import Complete, LeaseRequest

DB = "leaseq_bench"
LEASE = timedelta(seconds=60)


def _url(base: str, database: str) -> str:
    return libpq_url(base.rsplit("/", 1)[0] + "/" + database)


async def _fresh(base: str) -> str:
    admin = await asyncpg.connect(_url(base, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await admin.close()
    url = _url(base, DB)
    await migrate(url)
    return url


async def _consume(store: PostgresTaskStore, k: int) -> int:
    done = 0
    while granted := await store.lease(LeaseRequest("bench", "w", k, LEASE)):
        if k == 1:
            task = granted[0]
            assert task.lease is not None
            await store.complete(task.id, task.lease.token, None)
        else:
            outcomes = [Complete(t.id, t.lease.token) for t in granted if t.lease is not None]
            await store.report(outcomes)
        done += len(granted)
    return done


async def measure(base: str, n: int, k: int, consumers: int) -> dict[str, object]:
    url = await _fresh(base)
    store = await open_postgres_store(url, pool_size=max(consumers, 1))
    for start in range(0, n, 1000):
        specs = [
            TaskSpec("bench", "noop", payload={"i": i}) for i in range(start, min(n, start + 1000))
        ]
        await store.enqueue(specs)
    conn = await asyncpg.connect(url)
    await conn.execute("CHECKPOINT")
    await conn.execute("VACUUM ANALYZE leaseq_tasks")
    started = time.perf_counter()
    done = sum(await asyncio.gather(*(_consume(store, k) for _ in range(consumers))))
    wall = time.perf_counter() - started
    left = await conn.fetchval("SELECT count(*) FROM leaseq_tasks WHERE state <> 'succeeded'")
    await conn.close()
    await store.close()
    return {
        "peer": "leaseq_store",
        "measure": "lease_complete",
        "batch": k,
        "consumers": consumers,
        "n": n,
        "completed": done,
        "not_done": left,
        "wall_s": round(wall, 3),
        "jobs_per_s": round(n / wall, 1),
        "versions": {"sqlalchemy": version("sqlalchemy"), "asyncpg": version("asyncpg")},
        "python": platform.python_version(),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 10, 100])
    parser.add_argument("--consumers", type=int, nargs="*", default=[1, 4])
    args = parser.parse_args()
    for k in args.batches:
        for consumers in args.consumers:
            record = await measure(args.url, args.n, k, consumers)
            print(json.dumps(record), flush=True)
            print(f"k={k} C={consumers}: {record['jobs_per_s']} jobs/s", file=sys.stderr)
    admin = await asyncpg.connect(_url(args.url, "postgres"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
