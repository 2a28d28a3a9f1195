"""What the producer features (ADRs 0028) add to the worker's hot statements, measured
inside PostgreSQL (no client, no network), A/B interleaved, one JSON line per round.

    python bench/producer_overhead.py --url postgresql://postgres@127.0.0.1:5432/postgres

- trigger: server time per `UPDATE leaseq_tasks` of an unawaited task (what complete,
  heartbeat and lease do), with the final-state trigger enabled vs disabled: the cost of
  its WHEN test.
- pause: execution time of the LEASE statement (EXPLAIN ANALYZE, server side) on a queue
  of 10,000 pending tasks, with the paused-queue filter vs the same statement without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import uuid

import asyncpg

from leaseq.adapters.postgres import migrate
from leaseq.adapters.postgres import queries as q
from leaseq.adapters.postgres.engine import libpq_url
from leaseq.adapters.postgres.statements import Positional
from leaseq.domain.transitions import EXPIRED_ERROR

DB = "leaseq_bench_producer"
UPDATES = """DO $$
DECLARE ids uuid[]; started timestamptz;
BEGIN
  SELECT array_agg(id) INTO ids FROM leaseq_tasks;
  started := clock_timestamp();
  FOR i IN 1..array_length(ids, 1) LOOP
    UPDATE leaseq_tasks SET updated_at = clock_timestamp() WHERE id = ids[i];
  END LOOP;
  RAISE NOTICE '%', extract(epoch FROM clock_timestamp() - started);
END $$"""


async def _fresh(base: str) -> str:
    admin = await asyncpg.connect(libpq_url(base))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await admin.close()
    url = libpq_url(base.rsplit("/", 1)[0] + "/" + DB)
    await migrate(url)
    return url


async def _seed(conn: asyncpg.Connection, n: int) -> None:
    await conn.execute(
        """INSERT INTO leaseq_tasks (id, queue, type, type_version, payload, labels, priority,
            run_at, attempts, max_attempts, retry_base, retry_factor, retry_max, retry_jitter,
            state, epoch, created_at, updated_at)
        SELECT leaseq_uuid7(), 'bench', 't', 1, '{}', '{}', 0, now(), 0, 20, 1, 2, 3600, 0.2,
            'pending', 0, now(), now() FROM generate_series(1, $1)""",
        n,
    )
    await conn.execute("VACUUM ANALYZE leaseq_tasks")


async def _update_seconds(conn: asyncpg.Connection) -> float:
    """Seconds the server spent updating every task once (the DO block's own clock)."""
    seen: list[float] = []

    def heard(_conn: object, message: asyncpg.PostgresLogMessage) -> None:
        seen.append(float(message.message))

    conn.add_log_listener(heard)
    try:
        await conn.execute(UPDATES)
        await asyncio.sleep(0)  # let the NOTICE be delivered
    finally:
        conn.remove_log_listener(heard)
    return seen[-1]


class _Rollback(Exception):
    """Leaves the granted task pending for the next sample."""


async def _lease_ms(conn: asyncpg.Connection, statement: Positional, samples: int) -> float:
    """Median server execution time (EXPLAIN ANALYZE) of one LEASE of one task."""
    params = {
        "now": None, "queue": "bench", "types": None, "versions": None, "limit": 1,
        "owner": "w", "tokens": [uuid.uuid4().hex], "lease_us": 30_000_000,
        "expired_error": EXPIRED_ERROR, "request_id": None,
    }  # fmt: skip
    args = [params[name] for name in statement.names]
    times = []
    for _ in range(samples):
        try:
            async with conn.transaction():
                plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql, *args)
                times.append(float(json.loads(plan)[0]["Execution Time"]))
                raise _Rollback
        except _Rollback:
            pass
    return statistics.median(times)


async def main(url: str, n: int, rounds: int) -> None:
    db = await _fresh(url)
    conn = await asyncpg.connect(db)
    try:
        await _seed(conn, n)
        with_filter = Positional(q.LEASE)
        without = Positional(type(q.LEASE)(q.LEASE.text.replace(q._UNRESTRICTED, "true")))
        for round_ in range(rounds):
            row: dict[str, object] = {"round": round_, "tasks": n}
            for label, enabled in (("on", True), ("off", False), ("on_again", True)):
                action = "ENABLE" if enabled else "DISABLE"
                await conn.execute(f"ALTER TABLE leaseq_tasks {action} TRIGGER leaseq_tasks_final")
                row[f"update_us_trigger_{label}"] = round(1e6 * await _update_seconds(conn) / n, 3)
            for label, statement in (("with_pause_filter", with_filter), ("without", without)):
                row[f"lease_ms_{label}"] = round(await _lease_ms(conn, statement, 50), 4)
            print(json.dumps(row), flush=True)
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n, args.rounds))
