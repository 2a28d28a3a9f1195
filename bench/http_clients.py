"""Client CPU per worker round trip, for each HTTP client library, interleaved A/B.

A `leaseq serve --memory` child (the store is the same for every arm and none of its CPU is
counted) has tasks queued; each round, every client in turn (in a shuffled order) does
`--pairs` lease(k) + results(k) pairs, the worker's two calls, with the bodies the SDK
sends. This process's CPU time (`time.process_time`) over those pairs, divided by the
pairs, is the client's cost: the library plus the JSON both sides of it (the same for
every arm). One JSON line per client: the median of the rounds.

    .venv/bin/python bench/http_clients.py --rounds 7 --pairs 300 --k 10 \
        --clients httpx aiohttp

`lean` (the SDK's hand-written HTTP/1.1 client, removed in ADR 0020) runs where it still
exists, so an older checkout can be measured with the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


class Arm(Protocol):
    async def post(self, path: str, body: bytes) -> bytes: ...

    async def aclose(self) -> None: ...


class HttpxArm:
    def __init__(self, base: str) -> None:
        import httpx

        self._http = httpx.AsyncClient(
            base_url=base,
            headers=JSON,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def post(self, path: str, body: bytes) -> bytes:
        response = await self._http.post(path, content=body)
        assert response.status_code == 200, response.text
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()


class AiohttpArm:
    def __init__(self, base: str) -> None:
        import aiohttp

        self._base = base
        self._session = aiohttp.ClientSession(
            headers=JSON, connector=aiohttp.TCPConnector(limit=100)
        )

    async def post(self, path: str, body: bytes) -> bytes:
        async with self._session.post(self._base + path, data=body) as response:
            content = await response.read()
            assert response.status == 200, content
            return content

    async def aclose(self) -> None:
        await self._session.close()


class AiohttpTunedArm:
    """aiohttp as the SDK uses it: no cookie jar, no decompression, URLs built once."""

    def __init__(self, base: str) -> None:
        import aiohttp
        from yarl import URL

        self._urls: dict[str, URL] = {}
        self._base = base
        self._url = URL
        self._session = aiohttp.ClientSession(
            headers=JSON,
            connector=aiohttp.TCPConnector(limit=100),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def post(self, path: str, body: bytes) -> bytes:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self._url(self._base + path, encoded=True)
        async with self._session.post(url, data=body) as response:
            content = await response.read()
            assert response.status == 200, content
            return content

    async def aclose(self) -> None:
        await self._session.close()


class LeanArm:
    def __init__(self, base: str) -> None:
        from leaseq.sdk.transport.http11 import Http11Client  # type: ignore[import-not-found]

        self._client = Http11Client(base, {"Accept": "application/json"})

    async def post(self, path: str, body: bytes) -> bytes:
        answer = await self._client.request(
            "POST", path, content=body, headers=JSON, params=None, timeout=10
        )
        assert answer.status_code == 200, answer.content
        return bytes(answer.content)

    async def aclose(self) -> None:
        await self._client.aclose()


ARMS: dict[str, type[Any]] = {
    "httpx": HttpxArm,
    "aiohttp": AiohttpArm,
    "aiohttp_tuned": AiohttpTunedArm,
    "lean": LeanArm,
}


async def _pairs(arm: Arm, pairs: int, k: int) -> tuple[float, float]:
    """(client CPU seconds, wall seconds) of `pairs` lease(k) + results(k) pairs."""
    lease = orjson.dumps(
        {"queue": "bench", "worker_id": "w", "max_tasks": k, "lease_seconds": 60,
         "wait_seconds": 0.0, "request_id": "r"}
    )  # fmt: skip
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(pairs):
        granted = orjson.loads(await arm.post("/v1/leases", lease))["leases"]
        assert len(granted) == k, "the queue ran dry: raise --preload"
        results = [
            {"task_id": g["task_id"], "token": g["token"], "outcome": "complete", "result": None}
            for g in granted
        ]
        await arm.post("/v1/results", orjson.dumps({"results": results, "include_tasks": False}))
    return time.process_time() - cpu, time.perf_counter() - wall


async def _preload(base: str, n: int) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for start in range(0, n, 1000):
            size = min(1000, n - start)
            tasks = [{"queue": "bench", "type": "noop", "payload": {"i": i}} for i in range(size)]
            assert (await http.post("/v1/tasks", json={"tasks": tasks})).status_code == 201


async def _ready(base: str) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(base + "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("leaseq serve did not become ready")


async def run(args: argparse.Namespace, base: str) -> list[dict[str, Any]]:
    await _ready(base)
    arms = {name: ARMS[name](base) for name in args.clients}
    await _preload(base, max(10, args.pairs // 10) * args.k * len(arms))
    for arm in arms.values():  # warm up: connections, imports, caches
        await _pairs(arm, max(10, args.pairs // 10), args.k)
    cpu: dict[str, list[float]] = {name: [] for name in arms}
    wall: dict[str, list[float]] = {name: [] for name in arms}
    rng = random.Random(args.seed)
    for _ in range(args.rounds):
        # a short queue per round (the memory store's claim scans it: keeps it quick)
        await _preload(base, args.pairs * args.k * len(arms))
        order = list(arms)
        rng.shuffle(order)
        for name in order:
            spent, took = await _pairs(arms[name], args.pairs, args.k)
            cpu[name].append(spent / args.pairs)
            wall[name].append(took / args.pairs)
    for arm in arms.values():
        await arm.aclose()
    return [
        {
            "measure": "http_client_cpu",
            "client": name,
            "k": args.k,
            "pairs_per_round": args.pairs,
            "rounds": args.rounds,
            "client_cpu_us_per_pair": round(statistics.median(cpu[name]) * 1e6, 1),
            "client_cpu_us_per_pair_rounds": [round(x * 1e6, 1) for x in cpu[name]],
            "wall_us_per_pair": round(statistics.median(wall[name]) * 1e6, 1),
        }
        for name in cpu
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--clients", nargs="*", default=["httpx", "aiohttp"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    port = free_port()
    leaseq = str(Path(sys.executable).with_name("leaseq"))
    service = subprocess.Popen(
        [leaseq, "serve", "--memory", "--port", str(port), "--no-access-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lines = asyncio.run(run(args, f"http://127.0.0.1:{port}"))
    finally:
        service.terminate()
        service.wait(10)
    for line in lines:
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
