"""lease(k) + results(k) through the ASGI app called directly (memory store, no client,
no socket): what the service's own request handling costs per call. One JSON line.

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
            (b"host", b"bench"),
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


async def run(n: int, k: int) -> dict[str, object]:
    app = build_container(Settings(memory=True)).http_app()
    async with app.router.lifespan_context(app):
        tasks = [{"queue": "q", "type": "t", "payload": {"i": i}} for i in range(n)]
        await call(app, "/v1/tasks", orjson.dumps({"tasks": tasks}))
        lease_body = orjson.dumps({"queue": "q", "worker_id": "w", "max_tasks": k})
        leasing = reporting = 0.0
        pairs = n // k
        for _ in range(pairs):
            start = time.perf_counter()
            _, answer = await call(app, "/v1/leases", lease_body)
            leasing += time.perf_counter() - start
            granted = orjson.loads(answer)["leases"]
            results = [
                {"task_id": g["task_id"], "token": g["token"], "outcome": "complete"}
                for g in granted
            ]
            body = orjson.dumps({"results": results})
            start = time.perf_counter()
            status, _ = await call(app, "/v1/results", body)
            reporting += time.perf_counter() - start
            assert status == 200
    return {
        "measure": "asgi_roundtrip",
        "k": k,
        "pairs": pairs,
        "lease_ms": round(leasing / pairs * 1e3, 3),
        "results_ms": round(reporting / pairs * 1e3, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.n, args.k))))


if __name__ == "__main__":
    main()
