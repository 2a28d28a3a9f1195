"""The floor of an HTTP enqueue: the raw floor's INSERT behind a bare ASGI app.

Issue #21 asks an HTTP enqueue to match pgqueuer's direct INSERT (one task per call) and
to beat it by a fifth (batches of 1,000). This measures what the same HTTP hop costs with
no leaseq code at all: aiohttp (the SDK's HTTP library, ADR 0020) posts to
bench/http_floor_app.py on uvicorn with uvloop and httptools (what `leaseq serve` runs),
which runs the raw floor's INSERT on the raw floor's table
(../shared/bench/peers/bench_raw_floor.py) and answers the new ids. The `sql` rows run
the same statements from this process with no HTTP, as the raw floor does.

N tasks one per call, then in batches of 1,000, each on a fresh database; one JSON line
per measurement, "peer": "http_floor", the peer harness's field names, so bench/ratios.py
puts it beside the peers of the same run:

    python bench/http_floor.py --runs 1 --run-index 1 --n 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

import aiohttp
import asyncpg
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (
    HERE,
    CpuMeter,
    db_url,
    emit,
    enqueue_in_order,
    find_postmaster,
    free_port,
    pg_base,
)

DB = "leaseq_http_floor"
# the raw floor's table (bench_raw_floor.py), so the statements cost what they cost there
DDL = """
CREATE TABLE q (
    id          bigserial PRIMARY KEY,
    queue       text        NOT NULL DEFAULT 'default',
    state       text        NOT NULL DEFAULT 'queued',
    payload     jsonb       NOT NULL,
    attempts    int         NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    locked_at   timestamptz,
    finished_at timestamptz
);
CREATE INDEX q_queued_idx ON q (id) WHERE state = 'queued';
"""
INSERT_ONE = "INSERT INTO q (payload) VALUES ($1::jsonb) RETURNING id"
INSERT_MANY = "INSERT INTO q (payload) SELECT unnest($1::jsonb[]) RETURNING id"
JSON = {"Content-Type": "application/json"}


async def fresh(sync_commit: str) -> str:
    admin = await asyncpg.connect(db_url("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB}"')
        await admin.execute(f'ALTER DATABASE "{DB}" SET synchronous_commit = {sync_commit}')
    finally:
        await admin.close()
    url = db_url(DB)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(DDL)
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return url


def start_app(url: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "http_floor_app.py"), url, str(port)],
        stdout=subprocess.DEVNULL,
    )


async def serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = start_app(url, port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"http_floor_app exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError("http_floor_app did not start")


async def measure(args: argparse.Namespace, transport: str, batch: int) -> dict[str, Any]:
    url = await fresh(args.sync_commit)
    n = args.n
    proc = None
    pids: list[int] = []
    session: aiohttp.ClientSession | None = None
    conn: asyncpg.Connection | None = None
    if transport == "http":
        proc, base = await serve(url)
        pids.append(proc.pid)
        session = http = aiohttp.ClientSession(base)

        async def one(i: int) -> None:
            async with http.post("/one", data=orjson.dumps({"i": i}), headers=JSON) as r:
                assert r.status == 201, r.status
                orjson.loads(await r.read())

        async def many(start: int, size: int) -> None:
            body = orjson.dumps([{"i": i} for i in range(start, start + size)])
            async with http.post("/many", data=body, headers=JSON) as r:
                assert r.status == 201, r.status
                assert len(orjson.loads(await r.read())) == size
    else:
        conn = sql = await asyncpg.connect(url)

        async def one(i: int) -> None:
            await sql.fetchval(INSERT_ONE, orjson.dumps({"i": i}).decode())

        async def many(start: int, size: int) -> None:
            payloads = [orjson.dumps({"i": i}).decode() for i in range(start, start + size)]
            assert len(await sql.fetch(INSERT_MANY, payloads)) == size

    try:
        await one(-1)  # a warm connection on both sides, as the peers have (not counted)
        meter = CpuMeter(pids, ["server"] if pids else None).start()
        await enqueue_in_order(n, batch, one, many)
        cpu = meter.stop(n)
    finally:
        if session is not None:
            await session.close()
        if conn is not None:
            await conn.close()
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    check = await asyncpg.connect(url)
    try:
        rows = await check.fetchval("SELECT count(*) FROM q") - 1  # less the warm-up row
    finally:
        await check.close()
    return {
        "peer": "http_floor",
        "measure": "enqueue",
        "transport": transport,
        "mode": "single" if batch == 1 else "batch",
        "batch": batch,
        "n": n,
        "verified_rows": rows,
        "jobs_per_s": round(n / cpu["wall_s"], 1),
        "sync_commit": args.sync_commit,
        **cpu,
    }


async def run(args: argparse.Namespace) -> None:
    print(f"http_floor against {pg_base()}", file=sys.stderr)
    await find_postmaster()  # for PostgreSQL's CPU
    for r in range(args.runs):
        for batch in args.batches:
            for transport in args.transports:
                record = await measure(args, transport, batch)
                record["run"] = args.run_index if args.run_index is not None else r + 1
                emit(record)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--run-index", type=int, default=None)
    ap.add_argument("--sync-commit", default="on", choices=["on", "off"])
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 1000])
    ap.add_argument("--transports", nargs="*", default=["http", "sql"])
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
