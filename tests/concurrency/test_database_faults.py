"""Database faults under load: PostgreSQL restarted, and the service's sessions killed
with pg_terminate_backend, again and again, while a producer enqueues and SDK worker
processes work. Nothing may be lost, nothing finished twice.

The restart needs a server the test owns: a private embedded PostgreSQL (pgserver) in a
temporary directory, never the machine's shared server.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from leaseq.sdk import Client
from leaseq.sdk.errors import LeaseqClientError
from leaseq.sdk.types import TaskRequest
from tests.concurrency.judge import enqueue_jobs, judge
from tests.concurrency.processes import (
    PrivatePostgres,
    ServiceProcess,
    private_postgres,
    services,
    soak_seconds,
    wait_until,
)
from tests.concurrency.sdk_workers import WorkerPlan
from tests.concurrency.test_worker_faults import wait_all_finished, workers

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300 + 4 * soak_seconds(0))]


@pytest.fixture
def own_postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


async def produce(urls: tuple[str, ...], stop: asyncio.Event, ids: list[str]) -> None:
    """Enqueue small batches until stopped; a failed batch is sent again with the same
    idempotency keys, so it is stored once whatever the fault did to the first try."""
    n = 0
    async with Client(urls) as client:
        while not stop.is_set():
            batch = [
                TaskRequest("faults", "job", {"i": i}, idempotency_key=f"p-{i}")
                for i in range(n, n + 10)
            ]
            while True:
                try:
                    answers = await client.enqueue_many(batch)
                    break
                except LeaseqClientError:
                    await asyncio.sleep(0.1)
            ids += [str(a.id) for a in answers]
            n += 10
            await asyncio.sleep(0.05)


async def under_load(
    database_url: str,
    out: Path,
    fault: Callable[[list[ServiceProcess]], Awaitable[None]],
    *,
    seconds: float,
    replicas: int = 1,
) -> list[str]:
    """Producer and three workers run while `fault()` is applied every 1 to 2 s."""
    rng = random.Random(3)
    ids: list[str] = []
    with services(database_url, out, count=replicas) as running:
        urls = tuple(s.url for s in running)
        plans = [
            WorkerPlan(f"w{n}", urls[n % len(urls) :] + urls[: n % len(urls)], "faults", str(out))
            for n in range(3)
        ]
        with workers(plans):
            stop = asyncio.Event()
            producer = asyncio.create_task(produce(urls, stop, ids))
            try:
                deadline = asyncio.get_running_loop().time() + seconds
                while asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(rng.uniform(1.0, 2.0))
                    await fault(running)
            finally:
                stop.set()
                await producer
            await wait_all_finished(urls[::-1], ids, timeout=120)
        verdict = await judge(urls[::-1], ids, out)
    assert verdict.violations == [], verdict.summary()
    print(f"tasks={len(ids)} {verdict.summary()}")
    return ids


async def test_postgres_restarted_under_load_loses_nothing(
    own_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    from leaseq.adapters.postgres import migrate

    await migrate(own_postgres.url)
    restarts = 0

    async def restart(_: list[ServiceProcess]) -> None:
        nonlocal restarts
        await asyncio.to_thread(own_postgres.restart)
        restarts += 1

    ids = await under_load(own_postgres.url, tmp_path, restart, seconds=soak_seconds(8))
    assert restarts >= 3 and len(ids) >= 100


async def test_service_sessions_killed_again_and_again_lose_nothing(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    killed = 0

    async def terminate(_: list[ServiceProcess]) -> None:
        nonlocal killed
        conn = await asyncpg.connect(pg_migrated_url)
        try:
            killed += await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()

    await under_load(pg_migrated_url, tmp_path, terminate, seconds=soak_seconds(8))
    assert killed >= 3


async def test_a_replica_killed_mid_load_loses_nothing_and_workers_fail_over(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    """Three replicas; each worker (and the producer) is given every replica's URL,
    starting at a different one: the SDK moves to the next URL after a failure with no
    answer. The first replica is SIGKILLed once, mid-load."""
    killed: list[int] = []

    async def kill_first(running: list[ServiceProcess]) -> None:
        if not killed:
            running[0].kill()
            killed.append(running[0].pid)

    await under_load(pg_migrated_url, tmp_path, kill_first, seconds=soak_seconds(6), replicas=3)
    assert killed


async def test_results_finished_during_an_outage_shorter_than_the_lease_are_not_redone(
    own_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """PostgreSQL is down for 4 s while handlers finish; their leases (10 s) outlive the
    outage, so the workers must keep their results until the database is back rather
    than drop them and let the tasks run again after expiry."""
    from leaseq.adapters.postgres import migrate

    await migrate(own_postgres.url)
    with services(own_postgres.url, tmp_path) as [service]:
        ids = await enqueue_jobs(service.url, "faults", 40)
        plans = [
            WorkerPlan(
                f"w{n}",
                (service.url,),
                "faults",
                str(tmp_path),
                lease_seconds=10.0,
                work_seconds=1.0,
                concurrency=10,
            )
            for n in range(2)
        ]
        with workers(plans) as running:
            wait_until(
                lambda: sum(len(w.started_tasks()) for w in running) >= 10,
                timeout=60,
                what="handlers running",
            )
            await asyncio.to_thread(own_postgres.stop)
            await asyncio.sleep(4)  # the outage itself: nothing to wait for but time
            await asyncio.to_thread(own_postgres.start)
            await wait_all_finished(service.url, ids, timeout=120)
        verdict = await judge(service.url, ids, tmp_path)
    assert verdict.violations == [], verdict.summary()
    assert verdict.redelivered == 0, verdict.summary()
