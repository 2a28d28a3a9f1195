"""lease(k) + results(k), and enqueue (one SDK-shaped task; a batch of 100), through the
ASGI app called directly (memory store, no client, no socket): what the service's own
request handling costs per call, in wall time and in this process's CPU time. One JSON
line. For an A/B against another commit, run it with that commit's packages first on
PYTHONPATH (see bench/RESULTS.md), interleaved.

    .venv/bin/python bench/asgi_roundtrip.py --n 10000 --k 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import orjson

from leaseq.app.container import build_container
from leaseq.app.settings import Settings


async def call(app: Any, path: str, body: bytes) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),  # development mode answers loopback hosts only
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


SDK_TASK = {
    "queue": "e",
    "type": "t",
    "type_version": 1,
    "labels": {},
    "priority": 0,
    "max_attempts": 20,
}


async def timed(app: Any, path: str, bodies: list[bytes]) -> tuple[float, float]:
    """(wall ms, CPU ms) per call of `path` with each body in turn."""
    wall = time.perf_counter()
    cpu = time.process_time()
    for body in bodies:
        status, _ = await call(app, path, body)
        assert status in (200, 201), status
    count = len(bodies)
    return (
        (time.perf_counter() - wall) / count * 1e3,
        (time.process_time() - cpu) / count * 1e3,
    )


async def run(n: int, k: int) -> dict[str, object]:
    app = build_container(Settings(memory=True)).http_app()
    async with app.router.lifespan_context(app):
        for start in range(0, n, 1000):  # at most LEASEQ_MAX_BATCH a request
            tasks = [{"queue": "q", "type": "t", "payload": {"i": i}} for i in range(start, n)]
            status, _ = await call(app, "/v1/tasks", orjson.dumps({"tasks": tasks[:1000]}))
            assert status == 201, status
        lease_body = orjson.dumps({"queue": "q", "worker_id": "w", "max_tasks": k})
        leasing = reporting = leasing_cpu = reporting_cpu = 0.0
        pairs = n // k
        for _ in range(pairs):
            start, cpu = time.perf_counter(), time.process_time()
            _, answer = await call(app, "/v1/leases", lease_body)
            leasing += time.perf_counter() - start
            leasing_cpu += time.process_time() - cpu
            granted = orjson.loads(answer)["leases"]
            assert len(granted) == k
            results = [
                {"task_id": g["task_id"], "token": g["token"], "outcome": "complete"}
                for g in granted
            ]
            body = orjson.dumps({"results": results})
            start, cpu = time.perf_counter(), time.process_time()
            status, _ = await call(app, "/v1/results", body)
            reporting += time.perf_counter() - start
            reporting_cpu += time.process_time() - cpu
            assert status == 200
        singles = [
            orjson.dumps({"tasks": [{**SDK_TASK, "payload": {"i": i, "to": "a@b.c"}}]})
            for i in range(n)
        ]
        one_ms, one_cpu = await timed(app, "/v1/tasks", singles)
        batches = [
            orjson.dumps({"tasks": [{**SDK_TASK, "payload": {"i": i, "j": j}} for j in range(100)]})
            for i in range(max(n // 100, 10))
        ]
        batch_ms, batch_cpu = await timed(app, "/v1/tasks", batches)
    return {
        "measure": "asgi_roundtrip",
        "k": k,
        "pairs": pairs,
        "lease_ms": round(leasing / pairs * 1e3, 3),
        "results_ms": round(reporting / pairs * 1e3, 3),
        "lease_cpu_ms": round(leasing_cpu / pairs * 1e3, 4),
        "results_cpu_ms": round(reporting_cpu / pairs * 1e3, 4),
        "enqueue_1_cpu_ms": round(one_cpu, 4),
        "enqueue_100_cpu_ms": round(batch_cpu, 4),
        "enqueue_1_ms": round(one_ms, 4),
        "enqueue_100_ms": round(batch_ms, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.n, args.k))))


if __name__ == "__main__":
    main()
