"""Long horizon: a steady queue load while an idle-in-transaction session pins the xmin
horizon, sampled over time. One JSON line per sample; a table on stdout.

    python bench/long_horizon.py --url postgresql://postgres@127.0.0.1:5432/postgres \
        --seconds 240 --pin-from 30 --pin-until 150 --rate 300

Phases: before the pin, while a REPEATABLE READ transaction that has read the table sits
idle (so vacuum may remove no tuple dead since its snapshot), and after it ends. The
load: a producer enqueueing `--rate` tasks/s in batches of 10, `--consumers` claimers
doing lease(limit=10) + one batched report, and the prune every 5 s of tasks finished
more than 5 s ago (a steady-state queue, every row inserted, updated twice, deleted).
Each sample: completed/s, claim latency p50/p99 (ms), n_live_tup, n_dead_tup, ready
backlog, table+index size (MB). The claim must stay usable while pinned and recover
(autovacuum clears the dead tuples) after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from leaseq.adapters.postgres import PostgresTaskStore, migrate, open_postgres_store
from leaseq.adapters.postgres.engine import libpq_url
from leaseq.domain import TaskSpec
from leaseq.ports import Complete, LeaseRequest

DB = "leaseq_long_horizon"
LEASE = timedelta(seconds=60)


def append_line(path: Path, row: dict[str, object]) -> None:
    with path.open("a") as log:
        log.write(json.dumps(row) + "\n")


class Tally:
    def __init__(self) -> None:
        self.completed = 0
        self.claim_ms: list[float] = []

    def take(self) -> tuple[int, list[float]]:
        done, claims = self.completed, self.claim_ms
        self.completed, self.claim_ms = 0, []
        return done, claims


async def fresh_database(base: str) -> str:
    admin = await asyncpg.connect(libpq_url(base))  # the base URL's database, for admin
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await admin.close()
    url = libpq_url(urllib.parse.urlunsplit(urllib.parse.urlsplit(base)._replace(path=f"/{DB}")))
    await migrate(url)
    return url


async def setting(url: str, name: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval(f"SHOW {name}"))
    finally:
        await conn.close()


async def produce(store: PostgresTaskStore, rate: float, stop: asyncio.Event) -> None:
    interval = 10 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        await store.enqueue([TaskSpec("horizon", "job", {"n": 1}) for _ in range(10)])
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def consume(store: PostgresTaskStore, tally: Tally, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        granted = await store.lease(LeaseRequest("horizon", "bench", 10, LEASE))
        tally.claim_ms.append((time.monotonic() - started) * 1000)
        if not granted:
            await asyncio.sleep(0.01)
            continue
        await store.report([Complete(t.id, t.lease.token) for t in granted if t.lease])
        tally.completed += len(granted)


async def prune(store: PostgresTaskStore, stop: asyncio.Event) -> None:
    while not stop.is_set():
        while await store.prune(retention=timedelta(seconds=5), limit=5000):
            pass
        await asyncio.sleep(5)


async def pin_horizon(url: str, start: float, until: float, stop: asyncio.Event) -> None:
    """An idle-in-transaction session holding a snapshot from `start` to `until`."""
    await asyncio.sleep(start)
    conn = await asyncpg.connect(url)
    try:
        tx = conn.transaction(isolation="repeatable_read")
        await tx.start()
        await conn.fetchval("SELECT count(*) FROM leaseq_tasks")
        print(f"# pinned the xmin horizon at t={start:.0f}s", flush=True)
        await asyncio.sleep(until - start)
        await tx.rollback()
        print(f"# released the pin at t={until:.0f}s", flush=True)
    finally:
        await conn.close()


STATS = """
SELECT n_live_tup, n_dead_tup, autovacuum_count, pg_total_relation_size('leaseq_tasks'),
       (SELECT count(*) FROM leaseq_tasks WHERE state = 'pending')
FROM pg_stat_user_tables WHERE relname = 'leaseq_tasks'"""


async def sample(
    url: str, tally: Tally, every: float, seconds: float, pin: tuple[float, float], out: Path
) -> None:
    conn = await asyncpg.connect(url)
    began = time.monotonic()
    print("t_s  phase    done/s  claim_p50_ms  claim_p99_ms  live  dead  autovac  backlog  MB")
    try:
        while time.monotonic() - began < seconds:
            await asyncio.sleep(every)
            t = time.monotonic() - began
            done, claims = tally.take()
            live, dead, autovac, size, backlog = await conn.fetchrow(STATS)
            phase = "before" if t < pin[0] else "pinned" if t < pin[1] else "after"
            p50 = statistics.median(claims) if claims else 0.0
            p99 = statistics.quantiles(claims, n=100)[98] if len(claims) > 1 else p50
            row = {
                "t": round(t),
                "phase": phase,
                "completed_per_s": round(done / every),
                "claim_p50_ms": round(p50, 2),
                "claim_p99_ms": round(p99, 2),
                "n_live_tup": live,
                "n_dead_tup": dead,
                "autovacuum_count": autovac,
                "backlog": backlog,
                "table_mb": round(size / 2**20, 1),
            }
            append_line(out, row)
            print(
                f"{row['t']:>4} {phase:<7} {row['completed_per_s']:>7} {p50:>13.2f}"
                f" {p99:>13.2f} {live:>6} {dead:>6} {autovac:>8} {backlog:>8}"
                f" {row['table_mb']:>5}",
                flush=True,
            )
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    if args.embedded:
        import tempfile

        import pgserver  # type: ignore[import-untyped]

        with tempfile.TemporaryDirectory(prefix="leaseq-horizon-") as data:
            server = pgserver.get_server(data, cleanup_mode="delete")
            try:
                args.url = server.get_uri().replace("postgres:@", "postgres@")
                await run(args)
            finally:
                server.cleanup()
    else:
        await run(args)


async def run(args: argparse.Namespace) -> None:
    url = await fresh_database(args.url)
    autovacuum = await setting(url, "autovacuum")
    print(f"# autovacuum={autovacuum}", flush=True)
    store = await open_postgres_store(url, pool_size=args.consumers + 3)
    tally, stop = Tally(), asyncio.Event()
    out = Path(args.out)
    started = datetime.now(UTC).isoformat()
    append_line(out, {"run": started, "autovacuum": autovacuum, **vars(args)})
    loops = [
        asyncio.create_task(produce(store, args.rate, stop)),
        asyncio.create_task(prune(store, stop)),
        *(asyncio.create_task(consume(store, tally, stop)) for _ in range(args.consumers)),
        asyncio.create_task(pin_horizon(url, args.pin_from, args.pin_until, stop)),
    ]
    try:
        await sample(url, tally, args.every, args.seconds, (args.pin_from, args.pin_until), out)
    finally:
        stop.set()
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await store.close()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--pin-from", type=float, default=30)
    parser.add_argument("--pin-until", type=float, default=150)
    parser.add_argument("--rate", type=float, default=300, help="tasks enqueued per second")
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument(
        "--embedded", action="store_true", help="a private pgserver (autovacuum on by default)"
    )
    parser.add_argument("--every", type=float, default=10, help="seconds between samples")
    parser.add_argument(
        "--out", default=str(Path(__file__).with_name("results-long-horizon.jsonl"))
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
