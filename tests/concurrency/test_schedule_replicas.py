"""PostgreSQL: several service replicas firing one schedule enqueue one task per fire
time, checked from the stored tasks (ADR 0029)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from leaseq.adapters.cron import CronsimCalendar
from leaseq.adapters.postgres import open_postgres_store
from leaseq.app.container import build_container
from leaseq.app.schedules import ScheduleService
from leaseq.domain import ScheduleSpec
from leaseq.domain.schedule import schedule_key
from leaseq.ports import ServiceStore
from tests.contract.http_fixtures import running_app, settings_for
from tests.support import spec

pytestmark = pytest.mark.postgres

# Every task of the queue, by fire time: a fire time enqueued twice shows up twice.
TASKS = (
    "SELECT t.idempotency_key, t.run_at FROM leaseq_tasks t WHERE t.queue = $1 ORDER BY t.run_at"
)


async def tasks(url: str, queue: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(TASKS, queue))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def replicas(url: str, count: int) -> AsyncIterator[list[ServiceStore]]:
    stores: list[ServiceStore] = [await open_postgres_store(url, pool_size=2) for _ in range(count)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_replicas_racing_through_a_day_of_fire_times_enqueue_each_once(
    pg_migrated_url: str,
) -> None:
    start = datetime(2030, 3, 30, 22, 0, tzinfo=UTC)  # a day across nothing special
    calendar = CronsimCalendar()
    async with replicas(pg_migrated_url, 4) as stores:
        services = [ScheduleService(store, calendar) for store in stores]

        async def fire(replica: int, at: datetime) -> int:
            due = await stores[replica].due_schedules(limit=10, now=at)
            return await services[replica].fire(due)

        rule = ScheduleSpec("tick", "*/5 * * * *", "UTC", spec(queue="ticks"))
        await stores[0].put_schedule(rule, next_fire_at=start, now=start)
        instants = [start + timedelta(minutes=5 * n, seconds=1) for n in range(288)]
        for at in instants:  # every replica fires at each instant, all at once
            created = await asyncio.gather(*(fire(r, at) for r in range(len(stores))))
            assert sum(created) == 1, (at, created)
    rows = await tasks(pg_migrated_url, "ticks")
    fire_times = [at - timedelta(seconds=1) for at in instants]
    assert [r["run_at"] for r in rows] == fire_times
    assert [r["idempotency_key"] for r in rows] == [schedule_key("tick", t) for t in fire_times]


async def test_two_running_services_on_one_database_fire_one_task_per_second(
    pg_migrated_url: str,
) -> None:
    """The real maintenance loops of two service replicas, a rule firing every second."""
    settings = settings_for("postgres", pg_migrated_url, schedule_interval_seconds=0.2)
    async with (
        running_app(build_container(settings)) as (_, first),
        running_app(build_container(settings)) as (_, second),
    ):
        body = {"cron": "* * * * * *", "task": {"queue": "every-second", "type": "tick"}}
        assert (await first.put("/v1/schedules/tick", json=body)).status_code == 201
        await asyncio.sleep(4.5)
        deleted = (await second.delete("/v1/schedules/tick")).json()
    rows = await tasks(pg_migrated_url, "every-second")
    fire_times = [r["run_at"] for r in rows]
    assert len(fire_times) >= 3
    assert len(set(fire_times)) == len(fire_times)
    assert all(t.microsecond == 0 for t in fire_times)
    # a fire time being enqueued while the schedule was deleted may still make its task
    assert deleted["last_fire_at"] in [t.isoformat() for t in fire_times]
    gaps = [b - a for a, b in itertools.pairwise(fire_times)]
    print(f"{len(rows)} fire times, gaps {sorted({g.total_seconds() for g in gaps})}")
