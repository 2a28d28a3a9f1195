"""ADR 0003 through the service: the store's clock decides every instant of a task, so a
service replica whose own clock is wrong (here: an hour fast) schedules nothing wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.adapters.system import SystemClock
from leaseq.app.container import build_container
from tests.contract.http_fixtures import running_app, settings_for, store_url
from tests.support import FakeClock

BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]
HOUR_FAST = timedelta(hours=1)


@pytest.fixture(params=BACKENDS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The service's clock runs an hour fast; the store keeps its own (the database's, or
    the memory store's real clock)."""
    async with store_url(request) as url:
        container = build_container(settings_for(request.param, url))
        container.clock.override(providers.Object(FakeClock(datetime.now(UTC) + HOUR_FAST)))
        container.memory_store.override(
            providers.Singleton(
                InMemoryTaskStore, clock=SystemClock(), notifier=container.memory_notifier
            )
        )
        async with running_app(container) as (_, http):
            yield http


async def enqueued(client: httpx.AsyncClient, **task: Any) -> dict[str, Any]:
    body = {"queue": "q", "type": "t", "payload": None, **task}
    answer = await client.post("/v1/tasks", json={"tasks": [body]})
    assert answer.status_code == 201, answer.text
    task_id = answer.json()["tasks"][0]["id"]
    return dict((await client.get(f"/v1/tasks/{task_id}")).json())


async def test_delay_seconds_counts_from_the_stores_clock_not_the_services(
    client: httpx.AsyncClient,
) -> None:
    task = await enqueued(client, delay_seconds=90)
    created = datetime.fromisoformat(task["created_at"])
    assert datetime.fromisoformat(task["run_at"]) - created == timedelta(seconds=90)


async def test_a_task_without_a_delay_is_ready_at_once_whatever_the_services_clock(
    client: httpx.AsyncClient,
) -> None:
    task = await enqueued(client)
    assert task["run_at"] == task["created_at"]
    leases = await client.post("/v1/leases", json={"queue": "q", "worker_id": "w"})
    assert [lease["task_id"] for lease in leases.json()["leases"]] == [task["id"]]


async def test_a_delayed_task_is_not_leased_before_its_delay_has_passed(
    client: httpx.AsyncClient,
) -> None:
    await enqueued(client, delay_seconds=3600)
    leases = await client.post("/v1/leases", json={"queue": "q", "worker_id": "w"})
    assert leases.json() == {"leases": [], "waited_seconds": 0.0}
