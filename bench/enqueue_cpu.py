"""Store-level enqueue: tasks/s and this process's Python CPU per task, per batch size.

    python bench/enqueue_store.py --n 20000 --batches 1 100 1000 --database enq_bench

One fresh database per batch size (bench/harness.py; PEERBENCH_PG* pick the server).
`PostgresTaskStore.enqueue` is called in a plain loop; `py_cpu_us_per_task` is
time.process_time() over the loop (the store's Python: validation, parameters, driver,
decoding), `pg_cpu_us_per_task` the cluster's CPU when its data directory is known.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import emit, find_postmaster, fresh_database, postgres_cpu_seconds, settle

from leaseq.adapters.postgres import open_postgres_store
from leaseq.domain import TaskSpec


async def measure(args: argparse.Namespace, batch: int) -> dict[str, Any]:
    url = await fresh_database(args.database, "on")
    await settle(url)
    store = await open_postgres_store(url, pool_size=2)
    n = args.n
    try:
        await store.enqueue([TaskSpec(queue="warm", type="noop", payload={"i": -1})])
        specs = [TaskSpec(queue="bench", type="noop", payload={"i": i}) for i in range(n)]
        pg0 = postgres_cpu_seconds()
        cpu0, t0 = time.process_time(), time.perf_counter()
        for start in range(0, n, batch):
            await store.enqueue(specs[start : start + batch])
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        pg1 = postgres_cpu_seconds()
    finally:
        await store.close()
    return {
        "measure": "enqueue_store",
        "label": args.label,
        "batch": batch,
        "n": n,
        "jobs_per_s": round(n / wall, 1),
        "py_cpu_us_per_task": round(1e6 * cpu / n, 2),
        "pg_cpu_us_per_task": None
        if pg0 is None or pg1 is None
        else round(1e6 * (pg1 - pg0) / n, 2),
    }


async def run(args: argparse.Namespace) -> None:
    await find_postmaster()
    for _ in range(args.runs):
        for batch in args.batches:
            emit(await measure(args, batch))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 100, 1000])
    ap.add_argument("--database", default="leaseq_bench_enqueue")
    ap.add_argument("--label", default="")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
