"""What a task's wake-up (NOTIFY) costs an enqueue of one task per call.

    python bench/notify_cost.py --n 5000 --rounds 3

Each round, on a fresh database per arm, N tasks enqueued one per call through
`PostgresTaskStore.enqueue_keyed` (a key per task, as the SDK sends), arms alternated:
  listened  ready now, and one other connection LISTENs on the wake-up channel (what a
            running service does): the NOTIFY, and the listener's backend passing it on;
  unheard   ready now, nobody listens: the NOTIFY alone;
  delayed   run_at an hour ahead, nobody listens: the statement sends no NOTIFY.
One JSON line per measurement: tasks/s and PostgreSQL CPU per task (every backend).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import timedelta
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import emit, find_postmaster, fresh_database, postgres_cpu_seconds, settle

from leaseq.adapters.postgres import open_postgres_store
from leaseq.adapters.postgres.engine import libpq_url
from leaseq.adapters.postgres.queries import CHANNEL
from leaseq.domain import TaskSpec

ARMS = ("listened", "unheard", "delayed")


async def measure(arm: str, n: int, run: int) -> dict[str, Any]:
    url = await fresh_database("leaseq_notify_cost", "on")
    await settle(url)
    store = await open_postgres_store(url, pool_size=2)
    listener: asyncpg.Connection | None = None
    heard = 0

    def count(*_: object) -> None:
        nonlocal heard
        heard += 1

    if arm == "listened":
        listener = await asyncpg.connect(libpq_url(url))
        await listener.add_listener(CHANNEL, count)
    delay = timedelta(hours=1) if arm == "delayed" else None
    spec = TaskSpec(queue="bench", type="noop", delay=delay)
    try:
        await store.enqueue_keyed(spec, [{"i": -1}], ["warm"])
        pg0, t0 = postgres_cpu_seconds(), time.perf_counter()
        for i in range(n):
            await store.enqueue_keyed(spec, [{"i": i}], [f"k{i}"])
        wall = time.perf_counter() - t0
        await asyncio.sleep(0.2)  # the last notifications reach the listener
        pg1 = postgres_cpu_seconds()
    finally:
        if listener is not None:
            await listener.close()
        await store.close()
    return {
        "measure": "notify_cost",
        "arm": arm,
        "run": run,
        "n": n,
        "jobs_per_s": round(n / wall, 1),
        "pg_cpu_us_per_task": None
        if pg0 is None or pg1 is None
        else round(1e6 * (pg1 - pg0) / n, 1),
        "heard": heard,
    }


async def run(args: argparse.Namespace) -> None:
    await find_postmaster()
    for run_number in range(1, args.rounds + 1):
        for arm in ARMS:
            emit(await measure(arm, args.n, run_number))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
