"""A hostile probe of the service edge, on every task store: each bad input of issue 15
(and its neighbours) answers 4xx problem+json naming the field, never 5xx, and nothing
is half-applied; each number the service accepts comes back exactly as it was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leaseq.app.container import build_container
from tests.contract.http_fixtures import running_app, settings_for, store_url
from tests.contract.test_http_api import (
    BACKENDS,
    MISSING_ID,
    assert_problem,
    enqueue,
    enqueued_and_leased,
)

JSON = {"content-type": "application/json"}
TASK = '{{"tasks": [{{"queue": "q", "type": "t", {}}}]}}'
DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture(params=BACKENDS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        store_url(request) as url,
        running_app(build_container(settings_for(request.param, url))) as (_, http),
    ):
        yield http


def assert_refused(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    """A 4xx problem whose errors name `field` (as a prefix of the field's path)."""
    body = assert_problem(response, status, str(response.json().get("type")))
    assert status < 500
    fields = [e["field"] for e in body.get("errors", [])]
    assert any(f == field or f.startswith(field + ".") for f in fields), (field, body)
    return body


# (body text of one task's fields, the field the refusal names)
ENQUEUE_REFUSALS = [
    ('"payload": {"n": 1180591620717411303424}', "payload"),
    ('"payload": [9223372036854775808]', "payload"),
    ('"payload": -9223372036854775809', "payload"),
    ('"payload": {"f": 0.10000000000000000555}', "tasks.0.payload"),
    ('"payload": 0.30000000000000001', "tasks.0.payload"),
    ('"payload": 1e400', "tasks.0.payload"),
    ('"payload": -1e400', "tasks.0.payload"),
    ('"payload": 1e-400', "tasks.0.payload"),
    ('"payload": NaN', "body"),
    ('"payload": "\\u0000"', "payload"),
    ('"payload": {"k\\u0000": 1}', "payload"),
    ('"payload": "\\ud800"', "body"),
    ('"payload": ' + "[" * 65 + "]" * 65, "payload"),
    ('"payload": ' + DEEP, "body"),
    ('"priority": true', "tasks.0.priority"),
    ('"priority": "1"', "tasks.0.priority"),
    ('"priority": 1.0', "tasks.0.priority"),
    ('"priority": 1180591620717411303424', "tasks.0.priority"),
    ('"max_attempts": 18446744073709551616', "tasks.0.max_attempts"),
    ('"type_version": "2"', "tasks.0.type_version"),
    ('"delay_seconds": "5"', "tasks.0.delay_seconds"),
    ('"delay_seconds": 1e400', "tasks.0.delay_seconds"),
    ('"labels": {"k": "v\\u0000"}', "labels"),
    ('"labels": {"k": 1}', "tasks.0.labels"),
    ('"idempotency_key": "k\\u0000"', "idempotency_key"),
    ('"idempotency_key": ""', "tasks.0.idempotency_key"),
    ('"run_at": "0001-01-01T00:00:00Z"', "run_at"),
    ('"run_at": "0001-01-01T00:30:00+01:00"', "run_at"),
    ('"run_at": "1969-12-31T23:59:59Z"', "run_at"),
    ('"run_at": "9999-12-31T23:59:59.999999Z"', "run_at"),
    ('"run_at": "9999-12-31T23:00:00-05:00"', "run_at"),
    ('"run_at": "2030-01-01T00:00:00"', "tasks.0.run_at"),
    ('"run_at": 1900000000', "tasks.0.run_at"),
    ('"retry": {"factor": true}', "tasks.0.retry.factor"),
]


@pytest.mark.parametrize(("fields", "field"), ENQUEUE_REFUSALS)
async def test_a_bad_task_is_refused_naming_the_field_and_nothing_is_stored(client, fields, field):
    response = await client.post("/v1/tasks", content=TASK.format(fields).encode(), headers=JSON)
    assert_refused(response, response.status_code, field)
    assert response.status_code in (413, 422)
    assert (await client.get("/v1/tasks")).json()["tasks"] == []
    assert (await client.get("/v1/queues")).status_code == 200


@pytest.mark.parametrize(
    "number",
    [
        "9223372036854775807",
        "-9223372036854775808",
        "0.1",
        "-0.0",
        "1e2",
        "5e-324",
        "1.7976931348623157e308",
        "123456789.125e-3",
    ],
)
async def test_a_number_the_service_accepts_comes_back_exactly(client, number):
    body = TASK.format(f'"payload": {{"n": {number}}}').encode()
    created = await client.post("/v1/tasks", content=body, headers=JSON)
    assert created.status_code == 201, created.text
    task_id = created.json()["tasks"][0]["id"]
    read = await client.get(f"/v1/tasks/{task_id}")
    sent = httpx.Response(200, content=b'{"n": ' + number.encode() + b"}").json()
    assert repr(read.json()["payload"]["n"]) == repr(sent["n"])
    (lease,) = (await client.post("/v1/leases", json={"queue": "q", "worker_id": "w"})).json()[
        "leases"
    ]
    assert repr(lease["payload"]["n"]) == repr(sent["n"])
    done = await client.post(
        f"/v1/tasks/{task_id}/complete",
        content=b'{"token": "%s", "result": %s}' % (lease["token"].encode(), number.encode()),
        headers=JSON,
    )
    assert done.status_code == 200, done.text
    assert repr(done.json()["result"]) == repr(sent["n"])


async def test_a_run_at_inside_the_window_is_stored_and_the_queues_still_answer(client):
    for run_at in (
        "1970-01-01T00:00:00Z",
        "9998-12-31T23:59:59.999999Z",
        "2030-01-01T01:00:00+01:00",
    ):
        await enqueue(client, run_at=run_at)
    (queue,) = (await client.get("/v1/queues")).json()["queues"]
    assert queue["counts"]["pending"] == 3 and queue["ready"] == 1


async def test_a_result_that_cannot_come_back_exactly_is_refused_and_the_lease_stays(client):
    task_id = await enqueue(client)
    (lease,) = (await client.post("/v1/leases", json={"queue": "q", "worker_id": "w"})).json()[
        "leases"
    ]
    for result in (b"1180591620717411303424", b"0.10000000000000000555", b"1e400", b'"\\u0000"'):
        body = b'{"token": "%s", "result": %s}' % (lease["token"].encode(), result)
        response = await client.post(f"/v1/tasks/{task_id}/complete", content=body, headers=JSON)
        assert response.status_code == 422, response.text
        assert any("result" in e["field"] for e in response.json()["errors"])
    task = (await client.get(f"/v1/tasks/{task_id}")).json()
    assert task["state"] == "leased" and task["result"] is None


async def test_a_result_batch_refuses_each_bad_item_alone(client):
    ids, token = await enqueued_and_leased(client, 3)
    items = [
        b'{"task_id": "%s", "token": "%s", "outcome": "complete", "result": %s}'
        % (ids[i].encode(), token[ids[i]].encode(), result)
        for i, result in enumerate((b"18446744073709551616", b"1", b"0.1000000000000000055511"))
    ]
    body = b'{"results": [' + b",".join(items) + b"]}"
    response = await client.post("/v1/results", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    answers = response.json()["results"]
    assert [a["ok"] for a in answers] == [False, True, False]
    assert answers[0]["problem"]["errors"][0]["field"] == "result"
    assert answers[2]["problem"]["errors"][0]["field"].startswith("results.2.result")
    states = [(await client.get(f"/v1/tasks/{i}")).json()["state"] for i in ids]
    assert states == ["leased", "succeeded", "leased"]


WORKER_REFUSALS = [
    ("/v1/leases", '{"queue": "q", "worker_id": "w\\u0000"}', "worker_id"),
    ("/v1/leases", '{"queue": "q\\u0000", "worker_id": "w"}', "queue"),
    ("/v1/leases", '{"queue": "q", "worker_id": "w", "max_tasks": "5"}', "max_tasks"),
    ("/v1/leases", '{"queue": "q", "worker_id": "w", "max_tasks": true}', "max_tasks"),
    ("/v1/leases", '{"queue": "q", "worker_id": "w", "lease_seconds": 1e400}', "lease_seconds"),
    ("/v1/leases", '{"queue": "q", "worker_id": "w", "wait_seconds": -0.5}', "wait_seconds"),
    ("/v1/leases", '{"queue": "q", "worker_id": "w", "types": [{"type": 1}]}', "types.0.type"),
    ("/v1/leases", DEEP, "body"),
    ("/v1/leases", '{"queue": "q", "worker_id": "\\udfff"}', "body"),
    (f"/v1/tasks/{MISSING_ID}/heartbeat", '{"token": "t\\u0000"}', "token"),
    (f"/v1/tasks/{MISSING_ID}/heartbeat", '{"token": "t", "lease_seconds": "9"}', "lease_seconds"),
    (f"/v1/tasks/{MISSING_ID}/complete", '{"token": "\\ud83d"}', "body"),
    (f"/v1/tasks/{MISSING_ID}/retry", '{"token": "t"}', "error"),
    (f"/v1/tasks/{MISSING_ID}/retry", '{"token": "t", "error": "e", "delay_seconds": true}', ""),
    (f"/v1/tasks/{MISSING_ID}/fail", '{"token": "t", "error": 7}', "error"),
    (f"/v1/tasks/{MISSING_ID}/release", '{"token": ""}', "token"),
    ("/v1/results", '{"results": {}}', "results"),
    ("/v1/results", '{"results": [], "include_tasks": 1}', "include_tasks"),
]


@pytest.mark.parametrize(("path", "body", "field"), WORKER_REFUSALS)
async def test_a_bad_worker_request_is_refused_naming_the_field(client, path, body, field):
    response = await client.post(path, content=body.encode(), headers=JSON)
    assert_refused(response, 422, field or "delay_seconds")


QUERY_REFUSALS = [
    ("/v1/tasks?queue=q%00", 422, "queue"),
    ("/v1/tasks?type=%ED%A0%80", 422, "type"),
    ("/v1/tasks?state=%00", 422, "state"),
    ("/v1/tasks?cursor=%00", 422, "cursor"),
    ("/v1/tasks?cursor=ffffffff-ffff", 422, "cursor"),
    ("/v1/tasks?limit=1e400", 422, "limit"),
    ("/v1/tasks?limit=true", 422, "limit"),
    ("/v1/queues/q%00", 422, "queue"),
    ("/v1/queues/%ED%A0%80", 422, "queue"),
    (f"/v1/tasks/{MISSING_ID}/history?limit=0", 422, "limit"),
]


@pytest.mark.parametrize(("path", "status", "field"), QUERY_REFUSALS)
async def test_a_bad_query_or_path_value_is_refused_naming_it(client, path, status, field):
    assert_refused(await client.get(path), status, field)


@pytest.mark.parametrize("bad_id", ["%00", "x%00y", "%ED%A0%80", "0" * 5000])
async def test_a_bad_task_id_in_a_path_is_task_not_found(client, bad_id):
    assert_problem(await client.get(f"/v1/tasks/{bad_id}"), 404, "task_not_found")
    assert_problem(await client.post(f"/v1/tasks/{bad_id}/cancel"), 404, "task_not_found")
    response = await client.post(f"/v1/tasks/{bad_id}/heartbeat", json={"token": "t"})
    assert_problem(response, 404, "task_not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/console/tasks?queue=q%00",
        "/console/tasks?type=%ED%A0%80",
        "/console/tasks?state=%00",
        "/console/tasks?cursor=%00",
        "/console/dead?queue=%00",
        "/console/tasks/%00",
        "/console/tasks/x%00y",
    ],
)
async def test_the_console_answers_bad_query_and_path_values_with_a_4xx_page(client, path):
    signed = await client.post("/console/sign-in", data={"token": "admin-secret"})
    assert signed.status_code == 303
    response = await client.get(path)
    assert response.status_code in (404, 422), response.text
