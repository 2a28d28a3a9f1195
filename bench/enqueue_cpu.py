"""Enqueue cost split by process: tasks/s and Python CPU per task, per batch size.

    python bench/enqueue_cpu.py --n 20000 --batches 1 100 1000 --transports store http \
        [--keys sdk none] [--payload small 1kb 10kb]

One fresh database per measurement (bench/harness.py; PEERBENCH_PG* pick the server).
store: `PostgresTaskStore.enqueue` in a plain loop; `py_cpu_us_per_task` is this
process's CPU (validation, parameters, driver, decoding). http: the SDK Client against a
`leaseq serve` child; CPU is split into the client (this process) and the service
(`/proc/<pid>/stat`). Set LEASEQ_BENCH_PYSPY=<file> to record the service with py-spy.
The service logs transitions as leaseq_bench.py's does (LEASEQ_LOG_TRANSITIONS, default
`notable`): with every enqueue logged, the log line is most of the service's CPU per task.
--payload: each task's payload, `{"i": n}` (small, the default) or the order of about
1 KB or 10 KB of bench/payloads.py, with its own "i".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (
    Service,
    emit,
    find_postmaster,
    fresh_database,
    pid_cpu_seconds,
    postgres_cpu_seconds,
    settle,
)
from payloads import ONE_KB, TEN_KB

from leaseq.adapters.postgres import open_postgres_store
from leaseq.domain import TaskSpec
from leaseq.sdk import Client
from leaseq.sdk.types import TaskRequest

PAYLOADS: dict[str, dict[str, Any]] = {"small": {}, "1kb": ONE_KB, "10kb": TEN_KB}


async def measure(
    args: argparse.Namespace, transport: str, batch: int, keys: str = "sdk", payload: str = "small"
) -> dict[str, Any]:
    shape = PAYLOADS[payload]
    url = await fresh_database(args.database, "on")
    await settle(url)
    n = args.n
    service: Service | None = None
    spy: subprocess.Popen[bytes] | None = None
    if transport == "http":
        service = Service(url)
        await service.ready()
        client = Client(service.base)
        await client.enqueue("warm", "noop", {"i": -1})
        requests = [TaskRequest("bench", "noop", {**shape, "i": i}) for i in range(n)]

        async def call(start: int) -> None:
            if keys == "sdk":  # the Client: each task gets an idempotency key (ADR 0021)
                await client.enqueue_many(requests[start : start + batch])
            else:  # what the SDK sent before: no keys (the transport sends what it gets)
                await client.transport.enqueue(requests[start : start + batch])

        if os.environ.get("LEASEQ_BENCH_PYSPY"):
            spy = subprocess.Popen(  # noqa: ASYNC220 - started before the timed part
                [str(Path(sys.executable).with_name("py-spy")), "record", "-f", "raw",
                 "-r", "500", "-o", os.environ["LEASEQ_BENCH_PYSPY"], "-p", str(service.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1.0)
    else:
        store = await open_postgres_store(url, pool_size=2)
        await store.enqueue([TaskSpec(queue="warm", type="noop", payload={"i": -1})])
        specs = [TaskSpec(queue="bench", type="noop", payload={**shape, "i": i}) for i in range(n)]

        async def call(start: int) -> None:
            await store.enqueue(specs[start : start + batch])

    try:
        service0 = None if service is None else pid_cpu_seconds(service.pid)
        pg0 = postgres_cpu_seconds()
        cpu0, t0 = time.process_time(), time.perf_counter()
        for start in range(0, n, batch):
            await call(start)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        pg1 = postgres_cpu_seconds()
        service1 = None if service is None else pid_cpu_seconds(service.pid)
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait()
        if service is not None:
            await client.aclose()
            service.stop()
        else:
            await store.close()
    record: dict[str, Any] = {
        "measure": "enqueue_cpu",
        "label": args.label,
        "transport": transport,
        "keys": keys if transport == "http" else "none",
        "payload": payload,
        "batch": batch,
        "n": n,
        "jobs_per_s": round(n / wall, 1),
        "py_cpu_us_per_task": round(1e6 * cpu / n, 2),
        "pg_cpu_us_per_task": None
        if pg0 is None or pg1 is None
        else round(1e6 * (pg1 - pg0) / n, 2),
    }
    if service0 is not None and service1 is not None:
        record["client_cpu_us_per_task"] = record.pop("py_cpu_us_per_task")
        record["service_cpu_us_per_task"] = round(1e6 * (service1 - service0) / n, 2)
    return record


async def run(args: argparse.Namespace) -> None:
    await find_postmaster()
    for _ in range(args.runs):
        for transport in args.transports:
            for batch in args.batches:
                for keys in args.keys if transport == "http" else ["none"]:
                    for payload in args.payload:
                        emit(await measure(args, transport, batch, keys, payload))


def main() -> None:
    os.environ.setdefault("LEASEQ_LOG_TRANSITIONS", "notable")  # the `leaseq serve` child's
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 100, 1000])
    ap.add_argument("--transports", nargs="*", default=["store", "http"])
    ap.add_argument("--database", default="leaseq_bench_enqueue")
    ap.add_argument(
        "--keys", nargs="*", default=["sdk"], choices=["sdk", "none"],
        help="http: sdk = Client.enqueue_many (keys made), none = no keys (before ADR 0021)",
    )  # fmt: skip
    ap.add_argument("--label", default="")
    ap.add_argument("--payload", nargs="*", default=["small"], choices=sorted(PAYLOADS))
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
