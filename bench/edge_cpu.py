"""CPU per request of the service's own handling of its hot routes: the ASGI app called
directly (memory store; an empty queue to lease from, results for unknown tasks, one
SDK-shaped task per enqueue), so that the store's work does not hide the edge's. Best of
--rounds, in this process's CPU time (`time.process_time`). One JSON line.

For an A/B against another commit, run the same script with that commit's packages first
on PYTHONPATH (bench/RESULTS.md shows how), interleaved with this one.

    .venv/bin/python bench/edge_cpu.py --n 5000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import orjson
from asgi_roundtrip import SDK_TASK, call

from leaseq.app.container import build_container
from leaseq.app.settings import Settings

TOKEN = "KX9P744Z_UoOcIJUzN9droPoVMo"


def bodies(n: int) -> dict[str, tuple[str, list[bytes]]]:
    results = {
        "results": [
            {
                "task_id": f"01900000-0000-7000-8000-00000000000{j}",
                "token": TOKEN,
                "outcome": "complete",
                "result": {"n": j},
            }
            for j in range(10)
        ],
        "include_tasks": False,
    }
    lease = {"queue": "empty", "worker_id": "w", "max_tasks": 10, "lease_seconds": 30}
    return {
        "lease_empty_us": ("/v1/leases", [orjson.dumps(lease)] * n),
        "results_10_us": ("/v1/results", [orjson.dumps(results)] * n),
        "enqueue_1_us": (
            "/v1/tasks",
            [
                orjson.dumps({"tasks": [{**SDK_TASK, "payload": {"i": i, "to": "a@b.c"}}]})
                for i in range(n)
            ],
        ),
    }


async def run(n: int, rounds: int) -> dict[str, Any]:
    found: dict[str, Any] = {"measure": "edge_cpu", "n": n, "rounds": rounds}
    app = build_container(Settings(memory=True)).http_app()
    async with app.router.lifespan_context(app):
        for name, (path, sent) in bodies(n).items():
            best = float("inf")
            for _ in range(rounds):
                cpu = time.process_time()
                for body in sent:
                    await call(app, path, body)
                best = min(best, (time.process_time() - cpu) / len(sent) * 1e6)
            found[name] = round(best, 1)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.n, args.rounds))))


if __name__ == "__main__":
    main()
