"""Prints EXPLAIN (ANALYZE, BUFFERS) of the claim statement on a few thousand tasks.

    python bench/explain_claim.py postgresql://postgres@127.0.0.1:5432/leaseq_explain

The database is created (or emptied) and migrated; the claim runs in a rolled-back
transaction. The output is quoted in docs/adr/0004-hot-queue-table.md.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import asyncpg
from sqlalchemy import text

from leaseq.adapters.postgres import migrate, open_postgres_store
from leaseq.adapters.postgres import queries as q
from leaseq.adapters.postgres.engine import create_engine, libpq_url
from leaseq.domain import TaskSpec

TASKS_PER_QUEUE = 2000
QUEUES = ("mail", "webhooks", "reports")


async def main(url: str) -> None:
    database = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(libpq_url(url.rsplit("/", 1)[0] + "/postgres"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    await migrate(url)
    store = await open_postgres_store(url)
    for queue in QUEUES:
        for start in range(0, TASKS_PER_QUEUE, 500):
            specs = [
                TaskSpec(queue=queue, type="send", payload={"n": n}, priority=n % 3)
                for n in range(start, start + 500)
            ]
            await store.enqueue(specs)
    # some of the queue leased, so the lease index has entries too
    from leaseq.ports import LeaseRequest

    await store.lease(LeaseRequest("mail", "w", 200, timedelta(seconds=30)))
    await store.close()
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE leaseq_tasks"))
        await conn.commit()
        params = {
            "now": None,
            "queue": "mail",
            "types": None,
            "versions": None,
            "limit": 10,
            "owner": "w",
            "tokens": [f"t{n}" for n in range(10)],
            "lease_us": 30_000_000,
            "request_id": None,
            "expired_error": q.EXPIRED,
        }
        plan = await conn.execute(
            text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + q.LEASE.text), params
        )
        print("\n".join(row[0] for row in plan))
        await conn.rollback()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
