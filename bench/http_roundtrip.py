"""Sequential lease(k) + results(k) round trips over HTTP, one at a time.

A `leaseq serve --no-access-log` child on a fresh migrated database with N tasks queued,
driven by aiohttp, the SDK's HTTP client library (ADR 0020): p50 of each call and the
service's CPU per lease+results pair. One JSON line.
Quieter than the end-to-end benchmark: no worker process, no concurrency.

    .venv/bin/python bench/http_roundtrip.py --label new --n 6000 --k 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import aiohttp
import orjson
from harness import Service, fresh_database, pid_cpu_seconds, settle
from leaseq_bench import QUEUE, _preload

JSON = {"Content-Type": "application/json"}


async def run(label: str, n: int, k: int) -> dict[str, object]:
    url = await fresh_database(f"leaseq_rt_{label}", "on")
    await _preload(url, n)
    await settle(url)
    service = Service(url)
    try:
        await service.ready()
        client = aiohttp.ClientSession(headers=JSON)
        leases: list[float] = []
        reports: list[float] = []
        cpu_before = pid_cpu_seconds(service.proc.pid) or 0.0
        lease_body = orjson.dumps({"queue": QUEUE, "worker_id": "rt", "max_tasks": k})
        for _ in range(n // k):
            start = time.perf_counter()
            async with client.post(service.base + "/v1/leases", data=lease_body) as answer:
                granted = orjson.loads(await answer.read())["leases"]
            leased = time.perf_counter()
            if not granted:
                break
            body = orjson.dumps(
                {
                    "results": [
                        {"task_id": g["task_id"], "token": g["token"], "outcome": "complete"}
                        for g in granted
                    ]
                }
            )
            sent = time.perf_counter()
            async with client.post(service.base + "/v1/results", data=body) as answer:
                assert answer.status == 200, await answer.read()
            leases.append(leased - start)
            reports.append(time.perf_counter() - sent)
        cpu = (pid_cpu_seconds(service.proc.pid) or 0.0) - cpu_before
        await client.close()
    finally:
        service.stop()
    return {
        "measure": "http_roundtrip",
        "label": label,
        "k": k,
        "pairs": len(leases),
        "lease_p50_ms": round(statistics.median(leases) * 1e3, 3),
        "results_p50_ms": round(statistics.median(reports) * 1e3, 3),
        "service_cpu_ms_per_pair": round(cpu / max(1, len(leases)) * 1e3, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--label", default="current")
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.label, args.n, args.k))))


if __name__ == "__main__":
    main()
