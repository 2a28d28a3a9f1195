"""RSS of the service and of a worker under steady load, sampled every 10 s; prints the slope.

    python bench/memory_soak.py --minutes 10 --rate 500

A `leaseq serve` child and one SDK worker child (HTTP, concurrency 20) run while this
process enqueues `rate` no-op tasks per second in batches of 50. Every `--every` seconds
one JSON line records both RSS values (MiB) and the tasks done; the last line gives the
least-squares slope of each RSS series (MiB per minute) over the second half of the run
(after warm-up), which should be ~0 when nothing leaks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Service, WorkerProcess, emit, fresh_database, rss_mib

from leaseq.sdk import Client
from leaseq.sdk.types import TaskRequest


def slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else None


async def produce(base: str, rate: float, stop: asyncio.Event) -> None:
    batch = 50
    async with Client(base) as client:
        t0 = time.perf_counter()
        sent = 0
        while not stop.is_set():
            await client.enqueue_many(
                [TaskRequest("bench", "noop", {"i": sent + i}) for i in range(batch)]
            )
            sent += batch
            delay = t0 + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--every", type=float, default=10.0)
    args = ap.parse_args()
    url = await fresh_database("leaseq_soak", "on")
    service = Service(url)
    worker = None
    stop = asyncio.Event()
    samples: list[dict[str, float]] = []
    try:
        await service.ready()
        worker = WorkerProcess("--url", service.base, "--concurrency", "20")
        assert "READY" in await worker.line()
        worker.send("go")
        producer = asyncio.create_task(produce(service.base, args.rate, stop))
        conn = await asyncpg.connect(url)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < args.minutes * 60:
            await asyncio.sleep(args.every)
            done = await conn.fetchval(
                "SELECT count(*) FROM leaseq_tasks WHERE state = 'succeeded'"
            )
            sample = {
                "t_s": round(time.perf_counter() - t0, 1),
                "service_rss_mib": rss_mib(service.pid) or 0.0,
                "worker_rss_mib": rss_mib(worker.pid) or 0.0,
                "done": int(done),
            }
            samples.append(sample)
            emit({"measure": "memory_sample", **sample})
        stop.set()
        await producer
        await conn.close()
    finally:
        if worker is not None:
            worker.send("stop")
            worker.stop()
        service.stop()
    half = [s for s in samples if s["t_s"] >= args.minutes * 30]
    emit(
        {
            "measure": "memory_soak",
            "minutes": args.minutes,
            "rate": args.rate,
            "samples": len(samples),
            "done": samples[-1]["done"] if samples else 0,
            "service_rss_first_mib": samples[0]["service_rss_mib"] if samples else None,
            "service_rss_last_mib": samples[-1]["service_rss_mib"] if samples else None,
            "worker_rss_first_mib": samples[0]["worker_rss_mib"] if samples else None,
            "worker_rss_last_mib": samples[-1]["worker_rss_mib"] if samples else None,
            "service_slope_mib_per_min": _per_min(half, "service_rss_mib"),
            "worker_slope_mib_per_min": _per_min(half, "worker_rss_mib"),
        }
    )


def _per_min(samples: list[dict[str, float]], field: str) -> float | None:
    s = slope([(x["t_s"] / 60, x[field]) for x in samples])
    return None if s is None else round(s, 3)


if __name__ == "__main__":
    asyncio.run(main())
