"""The worker's hot routes answer like every other route, on both of their paths: the lean
handler (a well-formed JSON body) and FastAPI's own handler (anything else)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaseq.adapters.http.enqueue_body import plain_enqueue
from leaseq.adapters.http.json_body import loads
from leaseq.adapters.http.schemas import EnqueueIn, TaskIn
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


# -- POST /v1/tasks: plain bodies are read without pydantic, everything else by it ------

# A JSON content type that FastAPI reads and the lean handler leaves to it.
FASTAPI_ONLY = {"Content-Type": "application/merge-patch+json"}

ENQUEUE_BODIES = [
    {"tasks": [{"queue": "q", "type": "t", "payload": {"n": 2**70, "f": 0.1}}]},
    {
        "tasks": [
            {
                "queue": "q",
                "type": "t",
                "type_version": 3,
                "labels": {"a": "1"},
                "priority": -5,
                "run_at": "2030-01-02T03:04:05.123456+02:00",
                "max_attempts": 4,
                "retry": {"base_seconds": 2, "jitter": 0.5},
                "idempotency_key": "k",
                "ignored": [1],
            },
            {"queue": "q", "type": "t", "delay_seconds": 5, "run_at": None, "retry": None},
        ]
    },
    {"tasks": []},
    {"tasks": [{"queue": "q", "type": "t", "delay_seconds": 1.5, "run_at": "2030-01-01Z"}]},
    {"tasks": [{"queue": "q", "type": "bad type"}]},
    {"tasks": [{"queue": "q", "type": "t", "priority": 1.0}]},
    {"tasks": [{"queue": "q", "type": "t", "priority": "1"}]},
    {"tasks": [{"queue": "q", "type": "t", "priority": True}]},
    {"tasks": [{"queue": "q", "type": "t", "priority": None}]},
    {"tasks": [{"queue": "q", "type": "t", "priority": 2**64}]},
    {"tasks": [{"queue": "q", "type": "t", "labels": {"a": 1}}]},
    {"tasks": [{"queue": "q", "type": "t", "labels": None}]},
    {"tasks": [{"queue": "q", "type": "t", "run_at": "yesterday"}]},
    {"tasks": [{"queue": "q", "type": "t", "run_at": 1900000000}]},
    {"tasks": [{"queue": "q", "type": "t", "retry": {"factor": "x"}}]},
    {"tasks": [{"queue": "q", "type": "t", "retry": [1]}]},
    {"tasks": [{"queue": "q", "type": "t", "delay_seconds": "5"}]},
    {"tasks": [{"queue": "q", "type": "t", "idempotency_key": 5}]},
    {"tasks": [{"queue": 5, "type": "t"}]},
    {"tasks": [{"type": "t"}]},
    {"tasks": ["q"]},
    {"tasks": {"queue": "q"}},
    {"task": []},
]


def _comparable(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    if response.status_code < 300:  # new ids differ between the two requests
        body = [(t["state"], t["deduplicated"]) for t in body["tasks"]]
    return response.status_code, body


@pytest.mark.parametrize("body", ENQUEUE_BODIES)
async def test_an_enqueue_answers_alike_on_the_lean_path_and_on_fastapi_s(client, body):
    lean = await client.post("/v1/tasks", json=body, headers=PRODUCE)
    async with running_app(build_container(settings_for("memory", None))) as (_, other):
        full = await other.post(
            "/v1/tasks", content=json.dumps(body), headers={**PRODUCE, **FASTAPI_ONLY}
        )
    assert _comparable(lean) == _comparable(full)
    assert lean.headers["content-type"] == full.headers["content-type"]


async def test_an_enqueue_without_a_producer_token_is_refused_whatever_the_body(client):
    for content in ENQUEUE_BODIES[:2]:
        response = await client.post("/v1/tasks", json=content, headers={"Authorization": ""})
        assert_problem(response, 401, "unauthorized")
        response = await client.post("/v1/tasks", json=content, headers=WORK)
        assert_problem(response, 403, "forbidden")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
task_fields = st.sampled_from([*sorted(TaskIn.model_fields), "other"])
task_bodies = st.dictionaries(
    task_fields,
    json_values
    | st.sampled_from(["q", "2030-01-01T00:00:00Z", "1"])
    | st.dictionaries(st.sampled_from(["base_seconds", "factor", "a"]), json_values),
    max_size=6,
)


@settings(max_examples=400)
@given(st.lists(task_bodies, max_size=3))
def test_a_body_read_without_pydantic_holds_exactly_what_the_model_would(tasks):
    plain = plain_enqueue({"tasks": tasks})
    if plain is None:
        return
    model = EnqueueIn.model_validate({"tasks": tasks})
    for mine, theirs in zip(plain.tasks, model.tasks, strict=True):
        for name in TaskIn.model_fields:
            assert repr(getattr(mine, name)) == repr(getattr(theirs, name)), name


@pytest.mark.parametrize(
    "body",
    [
        b'{"n": 18446744073709551616, "m": -99999999999999999999}',
        b'{"n": 9223372036854775807, "f": 0.30000000000000000000004}',
        b'{"n": 123456789012345678, "x": "1234567890123456789"}',
        b"[NaN, Infinity]",
        b'{"s": "\\ud800"}',
    ],
)
def test_request_bodies_parse_to_what_the_standard_library_reads(body):
    assert repr(loads(body)) == repr(json.loads(body))
