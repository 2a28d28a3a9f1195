"""API v1's producer features on every task store: pause and resume, schedules, and
awaiting a task's final state (GET /v1/tasks/{id}?wait_seconds=)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leaseq.app.container import build_container
from tests.contract.http_fixtures import running_app, settings_for, store_url
from tests.contract.test_http_api import (
    BACKENDS,
    MISSING_ID,
    PRODUCE,
    WORK,
    assert_problem,
    enqueue,
    lease_one,
)


@pytest.fixture(params=BACKENDS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    # a slow fallback poll: a waiter that answers early was woken by a notification
    settings = settings_for(request.param, None, ready_check_interval_seconds=30.0)
    async with store_url(request) as url:
        settings = settings.model_copy(update={"database_url": url})
        async with running_app(build_container(settings)) as (_, http):
            yield http


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


# -- pause and resume ------------------------------------------------------------------------


async def test_a_paused_queue_answers_lease_requests_with_no_task_after_their_wait(client):
    await enqueue(client)
    paused = await client.post("/v1/queues/q/pause")
    assert paused.status_code == 200
    assert paused.json()["paused"] is True and paused.json()["paused_at"] is not None
    started = time.monotonic()
    response = await client.post(
        "/v1/leases", json={"queue": "q", "worker_id": "w", "wait_seconds": 0.5}, headers=WORK
    )
    assert response.json()["leases"] == []
    assert time.monotonic() - started >= 0.5  # it waited its whole wait
    assert (await client.get("/v1/queues/q")).json()["paused"] is True
    listed = (await client.get("/v1/queues")).json()["queues"]
    assert [(q["queue"], q["paused"], q["counts"]["pending"]) for q in listed] == [("q", True, 1)]


async def test_resume_wakes_a_waiting_lease_request(client):
    task_id = await enqueue(client)
    await client.post("/v1/queues/q/pause")
    waiting = asyncio.create_task(
        client.post(
            "/v1/leases", json={"queue": "q", "worker_id": "w", "wait_seconds": 20}, headers=WORK
        )
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()
    resumed = await client.post("/v1/queues/q/resume")
    assert resumed.json()["paused"] is False
    async with asyncio.timeout(10):  # far sooner than the 30 s fallback poll
        answer = await waiting
    assert [lease["task_id"] for lease in answer.json()["leases"]] == [task_id]


async def test_a_paused_empty_queue_is_listed_and_enqueue_still_works(client):
    await client.post("/v1/queues/idle/pause")
    listed = (await client.get("/v1/queues")).json()["queues"]
    assert [(q["queue"], q["paused"]) for q in listed] == [("idle", True)]
    await enqueue(client, queue="idle")
    assert (await client.get("/v1/queues/idle")).json()["counts"]["pending"] == 1


async def test_pause_needs_the_admin_scope_and_a_valid_queue_name(client):
    assert_problem(await client.post("/v1/queues/q/pause", headers=PRODUCE), 403, "forbidden")
    assert_problem(await client.post("/v1/queues/q/resume", headers=WORK), 403, "forbidden")
    bad = assert_problem(await client.post("/v1/queues/b%20d/pause"), 422, "validation_error")
    assert fields(bad) == ["queue"]


# -- schedules -------------------------------------------------------------------------------

REPORT = {
    "cron": "*/5 * * * *",
    "timezone": "Europe/Berlin",
    "task": {"queue": "reports", "type": "build_report", "payload": {"kind": "daily"}},
}


async def test_a_schedule_is_created_read_listed_replaced_and_deleted(client):
    created = await client.put("/v1/schedules/nightly", json=REPORT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["cron"], body["timezone"], body["revision"]) == (
        "nightly",
        "*/5 * * * *",
        "Europe/Berlin",
        1,
    )
    assert body["task"]["payload"] == {"kind": "daily"} and body["task"]["max_attempts"] == 20
    assert body["next_fire_at"] > body["created_at"] and body["last_fire_at"] is None
    assert (await client.get("/v1/schedules/nightly")).json() == body
    assert (await client.get("/v1/schedules")).json() == {"schedules": [body]}
    replaced = await client.put("/v1/schedules/nightly", json={**REPORT, "cron": "0 3 * * *"})
    assert replaced.status_code == 200 and replaced.json()["revision"] == 2
    deleted = await client.delete("/v1/schedules/nightly")
    assert deleted.status_code == 200 and deleted.json()["cron"] == "0 3 * * *"
    missing = assert_problem(await client.get("/v1/schedules/nightly"), 404, "schedule_not_found")
    assert missing["name"] == "nightly"
    assert_problem(await client.delete("/v1/schedules/nightly"), 404, "schedule_not_found")
    assert_problem(await client.get("/v1/schedules/b%20d"), 404, "schedule_not_found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": ""}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"task": {"queue": "bad queue", "type": "t"}}, "task.queue"),
        ({"task": {"queue": "q", "type": "t", "priority": "1"}}, "task.priority"),
        ({"task": {"queue": "q", "type": "t", "priority": 5000}}, "task.priority"),
        ({"task": {"queue": "q", "type": "t", "run_at": "2030-01-01T00:00:00Z"}}, "task.run_at"),
        ({"task": {"queue": "q", "type": "t", "idempotency_key": "k"}}, "task.idempotency_key"),
        ({"cronn": "* * * * *"}, "cronn"),
        ({"task": None}, "task"),
    ],
)
async def test_a_bad_schedule_is_refused_naming_the_field(client, change, field):
    response = await client.put("/v1/schedules/s", json={**REPORT, **change})
    body = assert_problem(response, 422, "validation_error")
    assert field in fields(body), body
    assert_problem(await client.get("/v1/schedules/s"), 404, "schedule_not_found")


async def test_a_bad_schedule_name_is_refused_and_schedules_need_the_admin_scope(client):
    body = assert_problem(
        await client.put("/v1/schedules/no%20spaces", json=REPORT), 422, "validation_error"
    )
    assert fields(body) == ["name"]
    assert_problem(await client.get("/v1/schedules", headers=PRODUCE), 403, "forbidden")
    put = await client.put("/v1/schedules/s", json=REPORT, headers=WORK)
    assert_problem(put, 403, "forbidden")


# -- await a result --------------------------------------------------------------------------


async def test_get_with_wait_seconds_answers_as_soon_as_the_task_is_final(client):
    task_id = await enqueue(client)
    lease = await lease_one(client, worker_id="w")
    waiting = asyncio.create_task(client.get(f"/v1/tasks/{task_id}?wait_seconds=25"))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    done = await client.post(
        f"/v1/tasks/{task_id}/complete", json={"token": lease["token"], "result": 7}, headers=WORK
    )
    finished = time.monotonic()
    async with asyncio.timeout(10):  # a missed wake-up would take the whole 25 s
        answer = await waiting
    took = time.monotonic() - finished
    assert answer.status_code == 200 and answer.json() == done.json()
    assert answer.json()["state"] == "succeeded" and answer.json()["result"] == 7
    print(f"answered {took:.3f} s after the task became final")


async def test_get_with_wait_seconds_answers_the_task_as_it_stands_after_the_wait(client):
    task_id = await enqueue(client)
    answer = await client.get(f"/v1/tasks/{task_id}", params={"wait_seconds": 0.3})
    assert answer.status_code == 200 and answer.json()["state"] == "pending"


async def test_get_with_wait_seconds_of_a_final_task_answers_at_once(client):
    task_id = await enqueue(client)
    await client.post(f"/v1/tasks/{task_id}/cancel")
    async with asyncio.timeout(10):
        answer = await client.get(f"/v1/tasks/{task_id}", params={"wait_seconds": 60})
    assert answer.json()["state"] == "cancelled"


async def test_a_producer_token_reads_and_awaits_a_task_but_lists_no_tasks(client):
    task_id = await enqueue(client)
    read = await client.get(f"/v1/tasks/{task_id}", headers=PRODUCE)
    assert read.status_code == 200 and read.json()["id"] == task_id
    awaited = await client.get(f"/v1/tasks/{task_id}?wait_seconds=0.2", headers=PRODUCE)
    assert awaited.status_code == 200 and awaited.json()["state"] == "pending"
    refused = assert_problem(
        await client.get(f"/v1/tasks/{task_id}", headers=WORK), 403, "forbidden"
    )
    assert "'admin' or 'produce'" in refused["detail"]
    assert_problem(await client.get("/v1/tasks", headers=PRODUCE), 403, "forbidden")
    assert_problem(
        await client.get(f"/v1/tasks/{task_id}/history", headers=PRODUCE), 403, "forbidden"
    )


@pytest.mark.parametrize("value", ["-1", "60.5", "61", "abc", "nan", "inf", ""])
async def test_a_bad_wait_seconds_is_refused(client, value):
    task_id = await enqueue(client)
    response = await client.get(f"/v1/tasks/{task_id}", params={"wait_seconds": value})
    body = assert_problem(response, 422, "validation_error")
    assert fields(body) == ["wait_seconds"]


async def test_waiting_on_an_unknown_task_is_task_not_found(client):
    assert_problem(
        await client.get(f"/v1/tasks/{MISSING_ID}?wait_seconds=5"), 404, "task_not_found"
    )
