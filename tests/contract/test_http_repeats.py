"""API v1: a repeated report answers as the first did (status and body); a repeated lease
request answers the grants of the first. On every task store (ADR 0021)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.contract.test_http_api import assert_problem, client, enqueue, lease_one

__all__ = ["client"]  # the fixture, on every backend

REPORTS = {
    "complete": {"result": {"sent": True, "n": [1, 2]}},
    "retry": {"error": "smtp down", "delay_seconds": 5},
    "fail": {"error": "fatal"},
    "release": {},
}


@pytest.mark.parametrize("outcome", list(REPORTS))
async def test_a_repeated_report_answers_the_same_status_and_body(
    client: httpx.AsyncClient, outcome: str
) -> None:
    task_id = await enqueue(client)
    lease = await lease_one(client)
    body = {"token": lease["token"], **REPORTS[outcome]}
    first = await client.post(f"/v1/tasks/{task_id}/{outcome}", json=body)
    assert first.status_code == 200, first.text
    again = await client.post(f"/v1/tasks/{task_id}/{outcome}", json=body)
    assert (again.status_code, again.json()) == (200, first.json())


async def test_a_different_report_with_a_spent_token_is_409_lease_lost(
    client: httpx.AsyncClient,
) -> None:
    task_id = await enqueue(client)
    lease = await lease_one(client)
    url = f"/v1/tasks/{task_id}/complete"
    assert (await client.post(url, json={"token": lease["token"], "result": 1})).status_code == 200
    other = await client.post(url, json={"token": lease["token"], "result": 2})
    assert_problem(other, 409, "lease_lost")


async def test_a_repeated_release_after_another_worker_took_the_task_answers_as_the_first(
    client: httpx.AsyncClient,
) -> None:
    task_id = await enqueue(client)
    lease = await lease_one(client)
    url = f"/v1/tasks/{task_id}/release"
    first = await client.post(url, json={"token": lease["token"]})
    await lease_one(client, worker_id="w2")  # the task moved on
    again = await client.post(url, json={"token": lease["token"]})
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.json()["state"] == "pending"


@pytest.mark.parametrize("include_tasks", [False, True])
async def test_a_repeated_results_batch_answers_each_item_as_the_first_time(
    client: httpx.AsyncClient, include_tasks: bool
) -> None:
    ids = [await enqueue(client) for _ in range(3)]
    leases = (
        await client.post("/v1/leases", json={"queue": "q", "worker_id": "w1", "max_tasks": 3})
    ).json()["leases"]
    assert {lease["task_id"] for lease in leases} == set(ids)
    items: list[dict[str, Any]] = [
        {"task_id": leases[0]["task_id"], "token": leases[0]["token"], "outcome": "complete"},
        {"task_id": leases[1]["task_id"], "token": leases[1]["token"], "outcome": "retry",
         "error": "later", "delay_seconds": 0},
        {"task_id": leases[2]["task_id"], "token": leases[2]["token"], "outcome": "fail",
         "error": "fatal"},
    ]  # fmt: skip
    body = {"results": items, "include_tasks": include_tasks}
    first = await client.post("/v1/results", json=body)
    assert first.status_code == 200 and all(item["ok"] for item in first.json()["results"])
    await lease_one(client, worker_id="w2")  # the retried task moved on
    again = await client.post("/v1/results", json=body)
    assert (again.status_code, again.json()) == (200, first.json())
    changed = {**body, "results": [{**items[0], "result": "another"}]}
    [refused] = (await client.post("/v1/results", json=changed)).json()["results"]
    assert refused["ok"] is False and refused["problem"]["type"] == "lease_lost"


async def test_a_repeated_lease_request_answers_the_grants_of_the_first(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        await enqueue(client)
    body = {"queue": "q", "worker_id": "w1", "max_tasks": 2, "request_id": "r-1"}
    first = await client.post("/v1/leases", json=body)
    assert len(first.json()["leases"]) == 2
    again = await client.post("/v1/leases", json={**body, "repeat": True})
    assert (again.status_code, again.json()) == (200, first.json())
    fresh = await client.post("/v1/leases", json={**body, "request_id": "r-2", "repeat": True})
    assert len(fresh.json()["leases"]) == 1  # a repeat of a request that got nothing claims


async def test_a_lease_request_id_that_is_not_short_text_is_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    body = {"queue": "q", "worker_id": "w1", "request_id": "x" * 129}
    problem = assert_problem(await client.post("/v1/leases", json=body), 422, "validation_error")
    assert "request_id" in str(problem)


SDK_TASK = {"queue": "q", "type": "t", "type_version": 1, "labels": {}, "priority": 0,
            "max_attempts": 20}  # fmt: skip


async def test_an_sdk_batch_sent_again_answers_the_same_tasks_deduplicated(
    client: httpx.AsyncClient,
) -> None:
    tasks = [{**SDK_TASK, "payload": i, "idempotency_key": f"sdk:r:{i}"} for i in range(3)]
    first = await client.post("/v1/tasks", json={"tasks": tasks})
    assert first.status_code == 201 and not any(t["deduplicated"] for t in first.json()["tasks"])
    again = await client.post("/v1/tasks", json={"tasks": tasks})
    assert again.status_code == 200
    assert again.json()["tasks"] == [{**t, "deduplicated": True} for t in first.json()["tasks"]]
    part = await client.post(
        "/v1/tasks", json={"tasks": [tasks[0], {**tasks[1], "idempotency_key": "sdk:r:new"}]}
    )
    assert part.status_code == 201
    assert [t["deduplicated"] for t in part.json()["tasks"]] == [True, False]


async def test_a_lease_answer_says_how_long_the_request_waited_before_the_grant(
    client: httpx.AsyncClient,
) -> None:
    import asyncio
    import time

    body = {"queue": "q", "worker_id": "w1", "wait_seconds": 5}
    sent = time.monotonic()
    waiting = asyncio.create_task(client.post("/v1/leases", json=body))
    await asyncio.sleep(0.6)
    await enqueue(client)
    answer = (await waiting).json()
    elapsed = time.monotonic() - sent
    assert len(answer["leases"]) == 1
    # a lower bound of the wait before the grant: the lease is at least that much younger
    assert 0.3 < answer["waited_seconds"] <= elapsed
    now = (await client.post("/v1/leases", json={"queue": "q", "worker_id": "w1"})).json()
    assert now == {"leases": [], "waited_seconds": 0.0}
