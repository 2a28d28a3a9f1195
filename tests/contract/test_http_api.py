"""API v1 against its documented contract, in-process, on every task store."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leaseq.app.container import build_container
from tests.contract.http_fixtures import running_app, settings_for, store_url

PG_READY = hasattr(importlib.import_module("leaseq.adapters.postgres"), "open_postgres_store")

BACKENDS = [
    "memory",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_READY, reason="the PostgreSQL adapter is not merged yet"),
        ],
    ),
]

WORK = {"Authorization": "Bearer work-secret"}
PRODUCE = {"Authorization": "Bearer prod-secret"}
MISSING_ID = "01900000-0000-7000-8000-000000000000"


@pytest.fixture(params=BACKENDS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        store_url(request) as url,
        running_app(build_container(settings_for(request.param, url))) as (_, http),
    ):
        yield http


async def enqueue(client: httpx.AsyncClient, **task: Any) -> str:
    body = {"queue": "q", "type": "t", "payload": {"n": 1}, **task}
    response = await client.post("/v1/tasks", json={"tasks": [body]})
    assert response.status_code == 201, response.text
    return str(response.json()["tasks"][0]["id"])


async def lease_one(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {"queue": "q", "worker_id": "w1", **extra}
    response = await client.post("/v1/leases", json=body)
    assert response.status_code == 200, response.text
    (lease,) = response.json()["leases"]
    return dict(lease)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["type"] == code and body["status"] == status
    assert body["title"] and body["detail"]
    return body


# -- enqueue -------------------------------------------------------------------------------


async def test_enqueue_answers_201_with_ids_and_the_task_reads_back_as_pending(client):
    response = await client.post(
        "/v1/tasks",
        json={"tasks": [{"queue": "q", "type": "t", "payload": [1, "a"], "labels": {"k": "v"}}]},
    )
    assert response.status_code == 201
    (answer,) = response.json()["tasks"]
    assert answer["state"] == "pending" and answer["deduplicated"] is False
    task = (await client.get(f"/v1/tasks/{answer['id']}")).json()
    assert task["payload"] == [1, "a"] and task["labels"] == {"k": "v"}
    assert task["lease"] is None and task["attempts"] == 0 and task["epoch"] == 0
    assert task["run_at"].endswith("+00:00")


async def test_enqueue_of_only_duplicates_answers_200_marked_deduplicated(client):
    first = await enqueue(client, idempotency_key="k1")
    response = await client.post(
        "/v1/tasks", json={"tasks": [{"queue": "q", "type": "t", "idempotency_key": "k1"}]}
    )
    assert response.status_code == 200
    assert response.json()["tasks"] == [{"id": first, "state": "pending", "deduplicated": True}]


async def test_enqueue_with_delay_seconds_schedules_the_task_in_the_future(client):
    task_id = await enqueue(client, delay_seconds=3600)
    task = (await client.get(f"/v1/tasks/{task_id}")).json()
    assert task["run_at"] > task["created_at"]
    assert (await client.post("/v1/leases", json={"queue": "q", "worker_id": "w"})).json() == {
        "leases": [],
        "waited_seconds": 0.0,
    }


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"queue": "bad queue!", "type": "t"}, "tasks.0.queue"),
        ({"queue": "q", "type": "t", "priority": 10**6}, "tasks.0.priority"),
        ({"queue": "q", "type": "t", "run_at": "2030-01-01T00:00:00"}, "tasks.0.run_at"),
        ({"queue": "q", "type": "t", "delay_seconds": 1, "run_at": "2030-01-01T00:00:00Z"}, None),
        ({"queue": "q", "type": "t", "delay_seconds": -5}, "tasks.0.delay_seconds"),
        ({"queue": "q", "type": "t", "retry": {"factor": 0.1}}, "tasks.0.retry.factor"),
        ({"queue": "q", "type": 7}, "tasks.0.type"),
        ({"queue": "q"}, "tasks.0.type"),
    ],
)
async def test_enqueue_of_invalid_task_is_refused_as_validation_error(client, task, field):
    body = assert_problem(
        await client.post("/v1/tasks", json={"tasks": [task]}), 422, "validation_error"
    )
    if field is not None:
        assert field in [e["field"] for e in body["errors"]]


async def test_malformed_json_and_an_empty_or_oversized_batch_are_validation_errors(client):
    bad_json = await client.post(
        "/v1/tasks", content=b'{"tasks": [', headers={"content-type": "application/json"}
    )
    assert assert_problem(bad_json, 422, "validation_error")["errors"]
    assert_problem(await client.post("/v1/tasks", json={"tasks": []}), 422, "validation_error")
    many = [{"queue": "q", "type": "t"}] * 1001
    assert_problem(await client.post("/v1/tasks", json={"tasks": many}), 422, "validation_error")


async def test_payload_over_the_domain_limit_is_refused_as_payload_too_large(client):
    response = await client.post(
        "/v1/tasks", json={"tasks": [{"queue": "q", "type": "t", "payload": "x" * 1_100_000}]}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_body_over_the_request_limit_is_answered_413_not_dropped(client):
    response = await client.post(
        "/v1/tasks", json={"tasks": [{"queue": "q", "type": "t", "payload": "x" * 3_000_000}]}
    )
    assert assert_problem(response, 413, "payload_too_large")["limit"] == 2 * 1024 * 1024


async def test_streamed_body_over_the_limit_without_content_length_is_answered_413(client):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"tasks": [{"queue": "q", "type": "t", "payload": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}]}'

    response = await client.post(
        "/v1/tasks", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


# -- get, list, cancel, requeue ---------------------------------------------------------


async def test_unknown_and_non_uuid_task_ids_are_task_not_found(client):
    for task_id in (MISSING_ID, "not-a-uuid"):
        assert_problem(await client.get(f"/v1/tasks/{task_id}"), 404, "task_not_found")
        assert_problem(await client.post(f"/v1/tasks/{task_id}/cancel"), 404, "task_not_found")
        assert_problem(await client.post(f"/v1/tasks/{task_id}/requeue"), 404, "task_not_found")
        response = await client.post(f"/v1/tasks/{task_id}/complete", json={"token": "x"})
        assert_problem(response, 404, "task_not_found")


async def test_list_filters_by_state_and_pages_with_a_cursor(client):
    ids = [await enqueue(client) for _ in range(3)]
    await enqueue(client, queue="other")
    first = (await client.get("/v1/tasks", params={"queue": "q", "limit": 2})).json()
    assert [t["id"] for t in first["tasks"]] == ids[:2] and first["next_cursor"]
    second = (
        await client.get("/v1/tasks", params={"queue": "q", "cursor": first["next_cursor"]})
    ).json()
    assert [t["id"] for t in second["tasks"]] == ids[2:] and second["next_cursor"] is None
    dead = (await client.get("/v1/tasks", params={"state": "dead"})).json()
    assert dead == {"tasks": [], "next_cursor": None}


async def test_list_with_bad_state_limit_or_cursor_is_a_validation_error(client):
    for params in ({"state": "sleeping"}, {"limit": 0}, {"limit": "many"}, {"cursor": "zz"}):
        assert_problem(await client.get("/v1/tasks", params=params), 422, "validation_error")


async def test_cancel_then_requeue_makes_the_task_pending_again(client):
    task_id = await enqueue(client)
    cancelled = (await client.post(f"/v1/tasks/{task_id}/cancel")).json()
    assert cancelled["state"] == "cancelled" and cancelled["finished_at"]
    assert_problem(await client.post(f"/v1/tasks/{task_id}/cancel"), 409, "invalid_transition")
    requeued = await client.post(f"/v1/tasks/{task_id}/requeue")
    assert requeued.status_code == 200 and requeued.json()["state"] == "pending"


async def test_requeue_of_a_pending_task_is_an_invalid_transition(client):
    task_id = await enqueue(client)
    assert_problem(await client.post(f"/v1/tasks/{task_id}/requeue"), 409, "invalid_transition")


# -- leases and fenced results ----------------------------------------------------------


async def test_lease_grants_a_token_and_the_task_shows_the_lease_without_it(client):
    task_id = await enqueue(client, labels={"traceparent": "00-abc"})
    lease = await lease_one(client, lease_seconds=60)
    assert lease["task_id"] == task_id and lease["epoch"] == 1 and lease["attempt"] == 1
    assert lease["labels"] == {"traceparent": "00-abc"} and len(lease["token"]) >= 22
    task = (await client.get(f"/v1/tasks/{task_id}")).json()
    assert task["state"] == "leased" and task["lease"]["owner"] == "w1"
    assert lease["token"] not in str(task)


async def test_lease_on_an_empty_queue_answers_an_empty_list(client):
    response = await client.post("/v1/leases", json={"queue": "q", "worker_id": "w"})
    assert response.status_code == 200
    assert response.json() == {"leases": [], "waited_seconds": 0.0}


async def test_lease_only_grants_the_requested_types(client):
    await enqueue(client, type="a")
    wanted = await enqueue(client, type="b", type_version=2)
    lease = await lease_one(client, types=[{"type": "b", "version": 2}])
    assert lease["task_id"] == wanted


@pytest.mark.parametrize(
    "extra",
    [
        {"lease_seconds": 0},
        {"lease_seconds": 10**7},
        {"wait_seconds": 21},
        {"wait_seconds": -1},
        {"max_tasks": 0},
        {"max_tasks": 5000},
        {"worker_id": ""},
        {"queue": "no spaces"},
    ],
)
async def test_lease_with_out_of_range_arguments_is_a_validation_error(client, extra):
    body = {"queue": "q", "worker_id": "w", **extra}
    assert_problem(await client.post("/v1/leases", json=body), 422, "validation_error")


async def test_long_poll_answers_as_soon_as_a_task_is_enqueued(client):
    waiting = asyncio.create_task(
        client.post("/v1/leases", json={"queue": "q", "worker_id": "w", "wait_seconds": 10})
    )
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = asyncio.get_running_loop().time()
    task_id = await enqueue(client)
    response = await asyncio.wait_for(waiting, 5)
    assert response.json()["leases"][0]["task_id"] == task_id
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_heartbeat_extends_the_lease(client):
    task_id = await enqueue(client)
    lease = await lease_one(client, lease_seconds=5)
    response = await client.post(
        f"/v1/tasks/{task_id}/heartbeat", json={"token": lease["token"], "lease_seconds": 600}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["task_id"] == task_id and body["epoch"] == 1
    assert body["expires_at"] > lease["expires_at"]


async def test_complete_stores_the_result_and_a_second_complete_is_lease_lost(client):
    task_id = await enqueue(client)
    lease = await lease_one(client)
    done = await client.post(
        f"/v1/tasks/{task_id}/complete", json={"token": lease["token"], "result": {"ok": 1}}
    )
    assert done.status_code == 200
    assert done.json()["state"] == "succeeded" and done.json()["result"] == {"ok": 1}
    again = await client.post(f"/v1/tasks/{task_id}/complete", json={"token": lease["token"]})
    assert assert_problem(again, 409, "lease_lost")["task_id"] == task_id


async def test_wrong_token_is_refused_as_lease_lost_on_every_fenced_call(client):
    task_id = await enqueue(client)
    await lease_one(client)
    calls = {
        "heartbeat": {"token": "wrong"},
        "complete": {"token": "wrong"},
        "retry": {"token": "wrong", "error": "e"},
        "fail": {"token": "wrong", "error": "e"},
        "release": {"token": "wrong"},
    }
    for call, body in calls.items():
        response = await client.post(f"/v1/tasks/{task_id}/{call}", json=body)
        assert_problem(response, 409, "lease_lost")


async def test_expired_lease_is_refused_as_lease_expired(client):
    task_id = await enqueue(client)
    lease = await lease_one(client, lease_seconds=1)
    await asyncio.sleep(1.1)
    response = await client.post(f"/v1/tasks/{task_id}/complete", json={"token": lease["token"]})
    assert_problem(response, 409, "lease_expired")


async def test_cancelled_task_refuses_its_holder_as_task_cancelled(client):
    task_id = await enqueue(client)
    lease = await lease_one(client)
    assert (await client.post(f"/v1/tasks/{task_id}/cancel")).json()["lease"] is None
    response = await client.post(f"/v1/tasks/{task_id}/heartbeat", json={"token": lease["token"]})
    assert_problem(response, 409, "task_cancelled")


async def test_retry_makes_the_task_pending_later_with_the_error(client):
    task_id = await enqueue(client)
    lease = await lease_one(client)
    response = await client.post(
        f"/v1/tasks/{task_id}/retry",
        json={"token": lease["token"], "error": "boom", "delay_seconds": 120},
    )
    task = response.json()
    assert task["state"] == "pending" and task["last_error"] == "boom"
    assert task["run_at"] > lease["expires_at"] or task["run_at"] > task["created_at"]


async def test_fail_sends_the_task_to_the_dead_letter_list(client):
    task_id = await enqueue(client)
    lease = await lease_one(client)
    response = await client.post(
        f"/v1/tasks/{task_id}/fail", json={"token": lease["token"], "error": "fatal"}
    )
    assert response.json()["state"] == "dead"
    dead = (await client.get("/v1/tasks", params={"state": "dead", "queue": "q"})).json()
    assert [t["id"] for t in dead["tasks"]] == [task_id]


async def test_release_gives_the_task_back_without_using_the_attempt(client):
    task_id = await enqueue(client)
    lease = await lease_one(client)
    response = await client.post(f"/v1/tasks/{task_id}/release", json={"token": lease["token"]})
    assert response.json()["state"] == "pending" and response.json()["attempts"] == 0
    assert (await lease_one(client))["epoch"] == 2


async def enqueued_and_leased(
    client: httpx.AsyncClient, n: int
) -> tuple[list[str], dict[str, str]]:
    """n new tasks' ids, and the token of each one's lease."""
    ids = [await enqueue(client) for _ in range(n)]
    leases = (
        await client.post("/v1/leases", json={"queue": "q", "worker_id": "w", "max_tasks": n})
    ).json()["leases"]
    return ids, {lease["task_id"]: lease["token"] for lease in leases}


async def test_results_batch_answers_each_outcome_or_its_problem(client):
    ids, token = await enqueued_and_leased(client, 3)
    response = await client.post(
        "/v1/results",
        json={
            "results": [
                {"task_id": ids[0], "token": token[ids[0]], "outcome": "complete", "result": 1},
                {"task_id": ids[1], "token": token[ids[1]], "outcome": "retry", "error": "e"},
                {"task_id": ids[2], "token": "stale", "outcome": "fail", "error": "e"},
                {"task_id": "nope", "token": "t", "outcome": "complete"},
            ]
        },
    )
    assert response.status_code == 200
    answers = response.json()["results"]
    assert [a["ok"] for a in answers] == [True, True, False, False]
    assert answers[0]["task"]["state"] == "succeeded" and answers[1]["task"]["state"] == "pending"
    assert [a.get("state") for a in answers] == ["succeeded", "pending", None, None]
    assert answers[2]["problem"]["type"] == "lease_lost"
    assert answers[3]["problem"]["type"] == "task_not_found"


async def test_results_without_tasks_answer_the_new_state_only(client):
    ids, token = await enqueued_and_leased(client, 2)
    response = await client.post(
        "/v1/results",
        json={
            "include_tasks": False,
            "results": [
                {"task_id": ids[0], "token": token[ids[0]], "outcome": "complete"},
                {"task_id": ids[1], "token": "stale", "outcome": "complete"},
            ],
        },
    )
    first, second = response.json()["results"]
    task = (await client.get(f"/v1/tasks/{ids[0]}")).json()
    assert task["state"] == "succeeded"
    assert first == {
        "task_id": ids[0],
        "ok": True,
        "state": "succeeded",
        "updated_at": task["updated_at"],
    }
    assert second["ok"] is False and second["problem"]["type"] == "lease_lost"


async def test_a_malformed_result_item_is_refused_alone_and_the_good_ones_apply(client):
    ids, token = await enqueued_and_leased(client, 2)
    body = {
        "results": [
            {"task_id": ids[0], "token": token[ids[0]], "outcome": "retry"},  # no error
            {"task_id": ids[1], "token": token[ids[1]], "outcome": "complete", "result": 1},
            {"task_id": ids[0], "token": "bad\u0000token", "outcome": "complete"},
            {"task_id": 7, "outcome": "complete"},
            "not an object",
        ]
    }
    response = await client.post("/v1/results", json=body)
    assert response.status_code == 200, response.text
    answers = response.json()["results"]
    assert [a["ok"] for a in answers] == [False, True, False, False, False]
    fields = [a["problem"]["errors"][0]["field"] for a in answers if not a["ok"]]
    assert fields == ["results.0", "results.2.token", "results.3.task_id", "results.4"]
    assert [a["task_id"] for a in answers] == [ids[0], ids[1], ids[0], None, None]
    assert all(a["problem"]["status"] == 422 for a in answers if not a["ok"])
    assert (await client.get(f"/v1/tasks/{ids[1]}")).json()["state"] == "succeeded"
    assert (await client.get(f"/v1/tasks/{ids[0]}")).json()["state"] == "leased"


async def test_results_ride_on_the_next_lease_request_and_are_answered_with_it(client):
    ids, token = await enqueued_and_leased(client, 2)
    waiting = await enqueue(client)
    body = {
        "queue": "q",
        "worker_id": "w",
        "max_tasks": 5,
        "wait_seconds": 5,
        "results": [
            {"task_id": ids[0], "token": token[ids[0]], "outcome": "complete", "result": 1},
            {"task_id": ids[1], "token": "stale", "outcome": "complete"},
            {"task_id": 7, "outcome": "complete"},
        ],
    }
    answer = (await client.post("/v1/leases", json=body)).json()
    assert [lease["task_id"] for lease in answer["leases"]] == [waiting]
    first, refused, malformed = answer["results"]
    task = (await client.get(f"/v1/tasks/{ids[0]}")).json()
    assert first == {
        "task_id": ids[0],
        "ok": True,
        "state": "succeeded",
        "updated_at": task["updated_at"],
    }
    assert refused["problem"]["type"] == "lease_lost"
    assert malformed["problem"]["errors"][0]["field"] == "results.2.task_id"
    assert (await client.get(f"/v1/tasks/{ids[1]}")).json()["state"] == "leased"


async def test_a_lease_request_with_results_does_not_wait(client):
    """Long polling would hold the results' answers back: an empty queue answers at once."""
    ids, token = await enqueued_and_leased(client, 1)
    body = {
        "queue": "q",
        "worker_id": "w",
        "wait_seconds": 15,
        "results": [{"task_id": ids[0], "token": token[ids[0]], "outcome": "complete"}],
    }
    answer = await asyncio.wait_for(client.post("/v1/leases", json=body), timeout=7)
    assert answer.json()["leases"] == [] and answer.json()["results"][0]["ok"] is True


async def test_a_refused_lease_request_applies_none_of_its_results(client):
    ids, token = await enqueued_and_leased(client, 1)
    result = {"task_id": ids[0], "token": token[ids[0]], "outcome": "complete"}
    for wrong in ({"lease_seconds": 0}, {"max_tasks": 0}, {"wait_seconds": 61}, {"queue": ""}):
        body = {"queue": "q", "worker_id": "w", "results": [result], **wrong}
        assert_problem(await client.post("/v1/leases", json=body), 422, "validation_error")
    assert (await client.get(f"/v1/tasks/{ids[0]}")).json()["state"] == "leased"


async def test_a_lease_request_without_results_answers_no_results_field(client):
    answer = (await client.post("/v1/leases", json={"queue": "q", "worker_id": "w"})).json()
    assert "results" not in answer


# -- queues, health, metrics, routing ----------------------------------------------------


async def test_queue_stats_count_tasks_per_state(client):
    await enqueue(client)
    await enqueue(client, delay_seconds=3600)
    await lease_one(client)
    await enqueue(client)
    (stats,) = (await client.get("/v1/queues")).json()["queues"]
    assert stats["counts"] == {"pending": 2, "leased": 1, "succeeded": 0, "dead": 0, "cancelled": 0}
    assert stats["ready"] == 1 and stats["scheduled"] == 1
    assert stats["oldest_ready_age_seconds"] >= 0
    one = (await client.get("/v1/queues/q")).json()
    assert one["queue"] == "q" and one["counts"]["leased"] == 1
    assert_problem(await client.get("/v1/queues/bad%20name"), 422, "validation_error")


async def test_queue_stats_show_the_throughput_of_the_last_minute(client):
    await enqueue(client)
    lease = await lease_one(client)
    done = {"token": lease["token"]}
    assert (await client.post(f"/v1/tasks/{lease['task_id']}/complete", json=done)).is_success
    (stats,) = (await client.get("/v1/queues")).json()["queues"]
    assert (stats["succeeded_last_minute"], stats["dead_last_minute"]) == (1, 0)


async def test_task_history_lists_each_transition_oldest_first(client):
    task_id = await enqueue(client)
    lease = await lease_one(client, worker_id="w-5")
    retry = {"token": lease["token"], "error": "SMTP 451", "delay_seconds": 0}
    assert (await client.post(f"/v1/tasks/{task_id}/retry", json=retry)).is_success
    response = await client.get(f"/v1/tasks/{task_id}/history")
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert [(e["transition"], e["from_state"], e["to_state"]) for e in events] == [
        ("enqueued", None, "pending"),
        ("leased", "pending", "leased"),
        ("retried", "leased", "pending"),
    ]
    assert events[2]["worker"] == "w-5" and events[2]["error"] == "SMTP 451"
    assert events[2]["epoch"] == 1 and events[2]["attempt"] == 1 and events[2]["at"]
    last = (await client.get(f"/v1/tasks/{task_id}/history", params={"limit": 1})).json()
    assert [e["transition"] for e in last["events"]] == ["retried"]


async def test_task_history_of_an_unknown_task_is_404_and_needs_the_admin_scope(client):
    unknown = "01900000-0000-7000-8000-ffffffffffff"
    assert_problem(await client.get(f"/v1/tasks/{unknown}/history"), 404, "task_not_found")
    assert_problem(await client.get("/v1/tasks/nope/history"), 404, "task_not_found")
    task_id = await enqueue(client)
    response = await client.get(f"/v1/tasks/{task_id}/history", headers=WORK)
    assert_problem(response, 403, "forbidden")


async def test_health_readiness_and_metrics_answer(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    await enqueue(client)
    text = (await client.get("/metrics")).text
    assert 'leaseq_task_transitions_total{queue="q",transition="enqueued",type="t"} 1.0' in text
    assert 'route="/v1/tasks"' in text and "leaseq_long_poll_waiters" in text


async def test_unknown_route_and_wrong_method_are_problems(client):
    assert_problem(await client.get("/v2/nothing"), 404, "not_found")
    assert_problem(await client.delete("/v1/tasks"), 405, "method_not_allowed")


# -- authentication -----------------------------------------------------------------------


async def test_missing_or_unknown_token_is_401_with_a_bearer_challenge(client):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer guess"}):
        response = await client.get("/v1/queues", headers=headers)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_token_without_the_scope_is_403(client):
    task = {"tasks": [{"queue": "q", "type": "t"}]}
    assert_problem(await client.post("/v1/tasks", json=task, headers=WORK), 403, "forbidden")
    lease = {"queue": "q", "worker_id": "w"}
    assert_problem(await client.post("/v1/leases", json=lease, headers=PRODUCE), 403, "forbidden")
    assert_problem(await client.get("/v1/queues", headers=WORK), 403, "forbidden")
    assert (await client.post("/v1/tasks", json=task, headers=PRODUCE)).status_code == 201
    assert (await client.post("/v1/leases", json=lease, headers=WORK)).status_code == 200


async def test_health_endpoints_need_no_token(client):
    assert (await client.get("/healthz", headers={"Authorization": ""})).status_code == 200


async def test_the_root_sends_a_browser_to_the_console_and_lists_the_links_otherwise(client):
    browser = await client.get("/", headers={"Accept": "text/html", "Authorization": ""})
    assert browser.status_code == 307 and browser.headers["location"] == "/console"
    links = (await client.get("/", headers={"Authorization": ""})).json()["links"]
    for path in links.values():  # every link leads somewhere
        assert (await client.get(path)).status_code in (200, 303, 307), path
