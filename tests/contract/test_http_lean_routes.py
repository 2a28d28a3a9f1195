"""The worker's hot routes answer like every other route, on both of their paths: the lean
handler (a well-formed JSON body) and FastAPI's own handler (anything else)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from leaseq.app.container import build_container
from tests.contract.http_fixtures import running_app, settings_for
from tests.contract.test_http_api import MISSING_ID, PRODUCE, WORK, assert_problem

HOT = [
    ("/v1/leases", {"queue": "q", "worker_id": "w"}),
    ("/v1/results", {"results": []}),
    (f"/v1/tasks/{MISSING_ID}/heartbeat", {"token": "t"}),
]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(build_container(settings_for("memory", None))) as (_, http):
        yield http


@pytest.mark.parametrize(("path", "body"), HOT)
async def test_a_hot_route_without_a_token_is_401_whatever_the_body(client, path, body):
    for content in (body, {"nothing": "useful"}):
        response = await client.post(path, json=content, headers={"Authorization": ""})
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    response = await client.post(path, json=body, headers=PRODUCE)
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize(("path", "body"), HOT)
async def test_a_hot_route_answers_a_non_json_content_type_as_fastapi_does(client, path, body):
    response = await client.post(
        path, content=b"queue=q", headers={**WORK, "Content-Type": "text/plain"}
    )
    assert_problem(response, 422, "validation_error")


async def test_a_heartbeat_for_an_unknown_task_is_404_on_the_lean_path(client):
    response = await client.post(f"/v1/tasks/{MISSING_ID}/heartbeat", json={"token": "t"})
    assert_problem(response, 404, "task_not_found")
    response = await client.post(
        "/v1/tasks/not-a-uuid/heartbeat", json={"token": "t"}, headers=WORK
    )
    assert_problem(response, 404, "task_not_found")
