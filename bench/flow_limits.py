"""What flow control costs (ADR 0030): lease + complete of PostgresTaskStore, one consumer,
on a queue with no limits and on a limited queue; enqueue in batches. One JSON line each.

    python bench/flow_limits.py --label branch --n 5000 --rounds 3 --keys 100

Each measurement gets a fresh database (`--db`, dropped and re-created), N tasks enqueued
untimed (batches of 1000; on the limited queue spread over `--keys` concurrency keys),
CHECKPOINT; then one consumer loops `lease(limit=k)` and `complete` / `report` until the
queue is empty: ms per task = wall time / N. The limited queue's caps are set far above
what one consumer holds, so the numbers are the cost of the limited path, not of waiting.
Code without flow control (an older checkout on PYTHONPATH) runs the unlimited rows only,
so both sides of an A/B run the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import asyncpg

from leaseq.adapters.postgres import PostgresTaskStore, migrate, open_postgres_store
from leaseq.adapters.postgres.engine import libpq_url
from leaseq.domain import TaskSpec
from leaseq.ports import Complete, LeaseRequest

LEASE = timedelta(seconds=60)


def _url(base: str, database: str) -> str:
    return libpq_url(base.rsplit("/", 1)[0] + "/" + database)


async def _fresh(base: str, db: str) -> str:
    admin = await asyncpg.connect(_url(base, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        await admin.close()
    url = _url(base, db)
    await migrate(url)
    return url


def _specs(start: int, stop: int, keys: int) -> list[TaskSpec]:
    if not keys:
        return [TaskSpec(queue="bench", type="noop", payload={"i": i}) for i in range(start, stop)]
    return [
        TaskSpec(queue="bench", type="noop", payload={"i": i}, concurrency_key=f"k{i % keys}")  # type: ignore[call-arg,unused-ignore]
        for i in range(start, stop)
    ]


async def _consume(store: PostgresTaskStore, k: int) -> int:
    done = 0
    while granted := await store.lease(LeaseRequest("bench", "w", k, LEASE)):
        if k == 1:
            task = granted[0]
            assert task.lease is not None
            await store.complete(task.id, task.lease.token, None)
        else:
            await store.report([Complete(t.id, t.lease.token) for t in granted if t.lease])
        done += len(granted)
    return done


async def measure(args: argparse.Namespace, *, limited: bool, k: int) -> dict[str, Any]:
    url = await _fresh(args.url, args.db)
    store = await open_postgres_store(url, pool_size=2)
    try:
        keys = args.keys if limited else 0
        started = time.perf_counter()
        for start in range(0, args.n, 1000):
            await store.enqueue(_specs(start, min(args.n, start + 1000), keys))
        enqueue_s = time.perf_counter() - started
        if limited:
            from leaseq.domain import QueueLimits  # type: ignore[attr-defined,unused-ignore]

            caps = QueueLimits(concurrency=100_000, concurrency_per_key=10_000)
            await store.set_limits("bench", caps)  # type: ignore[attr-defined,unused-ignore]
        conn = await asyncpg.connect(url)
        await conn.execute("CHECKPOINT")
        await conn.close()
        started = time.perf_counter()
        done = await _consume(store, k)
        wall = time.perf_counter() - started
    finally:
        await store.close()
    assert done == args.n, (done, args.n)
    return {
        "label": args.label,
        "queue": f"limited, {args.keys} keys" if limited else "no limits",
        "k": k,
        "n": args.n,
        "lease_complete_ms_per_task": round(wall * 1000 / args.n, 4),
        "enqueue_ms_per_task": round(enqueue_s * 1000 / args.n, 4),
    }


async def main(args: argparse.Namespace) -> None:
    flow = hasattr(PostgresTaskStore, "set_limits")
    for _ in range(args.rounds):
        for k in args.batches:
            for limited in (False, True) if flow else (False,):
                print(json.dumps(await measure(args, limited=limited, k=k)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", default="leaseq_bench_flow")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 10])
    parser.add_argument("--label", default="branch")
    asyncio.run(main(parser.parse_args()))
