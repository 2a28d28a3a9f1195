"""API v1's flow control on every task store (ADR 0030): PUT /v1/queues/{queue}/limits,
the limits and live leases in the queue views, and the concurrency key on enqueue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leaseq.app.container import build_container
from tests.contract.http_fixtures import running_app, settings_for, store_url
from tests.contract.test_http_api import BACKENDS, PRODUCE, WORK, assert_problem, enqueue

NO_LIMITS = {"concurrency": None, "concurrency_per_key": None, "rate_per_second": None}


@pytest.fixture(params=BACKENDS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    # a slow fallback poll: a waiter that answers early was woken by a notification
    settings = settings_for(request.param, None, ready_check_interval_seconds=30.0)
    async with store_url(request) as url:
        settings = settings.model_copy(update={"database_url": url})
        async with running_app(build_container(settings)) as (_, http):
            yield http


async def lease(client: httpx.AsyncClient, n: int = 10, **extra: Any) -> list[dict[str, Any]]:
    body = {"queue": "q", "worker_id": "w", "max_tasks": n, **extra}
    response = await client.post("/v1/leases", json=body, headers=WORK)
    assert response.status_code == 200, response.text
    return list(response.json()["leases"])


async def test_limits_are_put_shown_and_enforced(client):
    for key in ("a", "a", "a", "b"):
        await enqueue(client, concurrency_key=key)
    limits = {"concurrency": 3, "concurrency_per_key": 2, "rate_per_second": 100.0}
    put = await client.put("/v1/queues/q/limits", json=limits)
    assert put.status_code == 200, put.text
    assert put.json()["limits"] == limits
    assert put.json()["live_leases"] == 0 and put.json()["live_per_key"] == {}
    granted = await lease(client)
    assert len(granted) == 3
    shown = (await client.get("/v1/queues/q")).json()
    assert shown["limits"] == limits
    assert (shown["live_leases"], shown["live_per_key"]) == (3, {"a": 2, "b": 1})
    [listed] = (await client.get("/v1/queues")).json()["queues"]
    assert (listed["limits"], listed["live_leases"]) == (limits, 3)
    assert "live_per_key" not in listed


async def test_a_queue_never_limited_shows_no_limits(client):
    await enqueue(client)
    shown = (await client.get("/v1/queues/q")).json()
    assert (shown["limits"], shown["live_leases"]) == (NO_LIMITS, 0)


async def test_null_lifts_a_limit(client):
    await client.put("/v1/queues/q/limits", json={"concurrency": 1})
    for _ in range(3):
        await enqueue(client)
    assert len(await lease(client)) == 1
    lifted = await client.put("/v1/queues/q/limits", json={"concurrency": None})
    assert lifted.json()["limits"] == NO_LIMITS
    assert len(await lease(client)) == 2


async def test_the_concurrency_key_travels_with_each_enqueue_path(client):
    single = await enqueue(client, concurrency_key="tenant-1")
    same = [{"queue": "q", "type": "t", "payload": n, "concurrency_key": "t2"} for n in range(3)]
    mixed = [
        {"queue": "q", "type": "t", "payload": n, "concurrency_key": f"m{n}"} for n in range(2)
    ]
    keyed = [{**task, "idempotency_key": f"i{n}"} for n, task in enumerate(same)]
    ids = {single: "tenant-1"}
    for batch, key in ((same, "t2"), (mixed, None), (keyed, "t2")):
        answer = await client.post("/v1/tasks", json={"tasks": batch})
        assert answer.status_code == 201, answer.text
        for n, task in enumerate(answer.json()["tasks"]):
            ids[task["id"]] = key or f"m{n}"
    for task_id, key in ids.items():
        assert (await client.get(f"/v1/tasks/{task_id}")).json()["concurrency_key"] == key


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 2_000_000}, "concurrency"),
        ({"concurrency": "5"}, "concurrency"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"concurrency_per_key": True}, "concurrency_per_key"),
        ({"rate_per_second": 0}, "rate_per_second"),
        ({"rate_per_second": -1}, "rate_per_second"),
        ({"rate_per_second": 1e7}, "rate_per_second"),
        ({"concurency": 5}, "concurency"),
    ],
)
async def test_bad_limits_are_refused_naming_the_field_and_nothing_changes(client, body, field):
    await client.put("/v1/queues/q/limits", json={"concurrency": 4})
    refused = await client.put("/v1/queues/q/limits", json=body)
    problem = assert_problem(refused, 422, "validation_error")
    assert field in [e["field"] for e in problem["errors"]], problem
    assert (await client.get("/v1/queues/q")).json()["limits"]["concurrency"] == 4


async def test_a_bad_queue_name_or_concurrency_key_is_refused(client):
    bad_queue = await client.put("/v1/queues/a%20b/limits", json={})
    assert_problem(bad_queue, 422, "validation_error")
    body = {"queue": "q", "type": "t", "payload": 1, "concurrency_key": ""}
    bad_key = await client.post("/v1/tasks", json={"tasks": [body]})
    problem = assert_problem(bad_key, 422, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["tasks.0.concurrency_key"]


async def test_limits_need_the_admin_scope(client):
    for headers in (PRODUCE, WORK):
        refused = await client.put("/v1/queues/q/limits", json={}, headers=headers)
        assert_problem(refused, 403, "forbidden")


async def test_a_finished_lease_wakes_a_request_waiting_on_a_full_limited_queue(client):
    await enqueue(client)
    await enqueue(client)
    await client.put("/v1/queues/q/limits", json={"concurrency": 1})
    [held] = await lease(client)
    waiting = asyncio.create_task(lease(client, wait_seconds=20))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    done = await client.post(
        f"/v1/tasks/{held['task_id']}/complete", json={"token": held["token"]}, headers=WORK
    )
    assert done.status_code == 200, done.text
    async with asyncio.timeout(10):  # far sooner than the 30 s fallback poll
        assert len(await waiting) == 1
