"""The fast path in front of the framework (adapters/http/fast_path.py) answers the
worker's hot routes exactly as the full stack does: the same status, headers and bytes
for every kind of request, metrics included; what it does not serve falls through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families

from leaseq.adapters.http.app import ServiceApp
from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.app.container import build_container
from leaseq.ports import LeaseRequest
from tests.contract.http_fixtures import running_app, settings_for
from tests.contract.test_http_api import MISSING_ID, PRODUCE, WORK

LIMIT = 4096
LEASE = {"queue": "q", "worker_id": "w", "wait_seconds": 0}
RESULT = {"task_id": MISSING_ID, "token": "t", "outcome": "complete"}
JSON_TYPE, TEXT_TYPE = {"Content-Type": "application/json"}, {"Content-Type": "text/plain"}
UNKNOWN = {"Authorization": "Bearer x"}
NO_TOKEN = {"Authorization": ""}
TASK = {"queue": "q", "type": "t", "payload": {"n": 1}}
BAD_TASK = {**TASK, "type": "bad type"}
# What the SDK sends for each task: a batch of these differing only in payloads is
# enqueued as one spec and its payloads (routes_tasks._payloads_only_differ).
SDK_TASK = {**TASK, "type_version": 1, "labels": {}, "priority": 0, "max_attempts": 20}

# (name, path, request options, served by the fast path itself)
CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("empty lease", "/v1/leases", {"json": LEASE, "headers": WORK}, True),
    ("admin token", "/v1/leases", {"json": LEASE}, True),
    ("wait too long", "/v1/leases", {"json": {**LEASE, "wait_seconds": 99}}, True),
    ("bad queue name", "/v1/leases", {"json": {**LEASE, "queue": "bad name!"}}, True),
    ("no token", "/v1/leases", {"json": LEASE, "headers": {"Authorization": ""}}, True),
    ("wrong scope", "/v1/leases", {"json": LEASE, "headers": PRODUCE}, True),
    (
        "unknown token",
        "/v1/leases",
        {"json": LEASE, "headers": UNKNOWN},
        True,
    ),
    ("no tasks asked for", "/v1/leases", {"json": {**LEASE, "max_tasks": 0}}, True),
    ("schema refuses", "/v1/leases", {"json": {"worker_id": "w"}}, True),
    (
        "not json",
        "/v1/leases",
        {"content": b"{", "headers": JSON_TYPE},
        True,
    ),
    ("a list", "/v1/leases", {"json": [LEASE]}, True),
    (
        "text/plain",
        "/v1/leases",
        {"content": b"queue=q", "headers": TEXT_TYPE},
        True,
    ),
    ("too large", "/v1/leases", {"json": {**LEASE, "worker_id": "w" * LIMIT}}, True),
    ("stale result", "/v1/results", {"json": {"results": [RESULT]}}, True),
    (
        "retry without error",
        "/v1/results",
        {"json": {"results": [{**RESULT, "outcome": "retry"}]}},
        True,
    ),
    ("unknown task", f"/v1/tasks/{MISSING_ID}/heartbeat", {"json": {"token": "t"}}, True),
    ("not a uuid", "/v1/tasks/nope/heartbeat", {"json": {"token": "t"}}, True),
    ("not hot", f"/v1/tasks/{MISSING_ID}/complete", {"json": {"token": "t"}}, False),
    ("no such action", f"/v1/tasks/{MISSING_ID}/jump", {"json": {"token": "t"}}, False),
    ("GET on a hot path", "/v1/leases", {"method": "GET"}, False),
    ("no tasks to enqueue", "/v1/tasks", {"json": {"tasks": []}, "headers": PRODUCE}, True),
    ("bad type name", "/v1/tasks", {"json": {"tasks": [BAD_TASK]}, "headers": PRODUCE}, True),
    ("enqueue, wrong scope", "/v1/tasks", {"json": {"tasks": [TASK]}, "headers": WORK}, True),
    ("enqueue, no token", "/v1/tasks", {"json": {"tasks": [TASK]}, "headers": NO_TOKEN}, True),
    (
        "enqueue, both delays",
        "/v1/tasks",
        {"json": {"tasks": [{**TASK, "delay_seconds": 1, "run_at": "2030-01-01T00:00:00Z"}]}},
        True,
    ),
    (
        "enqueue, schema refuses",
        "/v1/tasks",
        {"json": {"tasks": [{**TASK, "priority": "x"}]}},
        True,
    ),
    ("enqueue, no list", "/v1/tasks", {"json": {"tasks": TASK}, "headers": PRODUCE}, True),
    (
        "SDK batch, bad type name",
        "/v1/tasks",
        {"json": {"tasks": [{**SDK_TASK, "type": "bad type"}] * 2}, "headers": PRODUCE},
        True,
    ),
    (
        "SDK batch, too many attempts",
        "/v1/tasks",
        {"json": {"tasks": [{**SDK_TASK, "max_attempts": 5000}] * 2}, "headers": PRODUCE},
        True,
    ),
    (
        "SDK batch, NaN in the second payload",
        "/v1/tasks",
        {
            "content": b'{"tasks": [' + b'{"queue": "q", "type": "t", "type_version": 1, '
            b'"labels": {}, "priority": 0, "max_attempts": 20, "payload": %s},'
            % b"1"
            + b'{"queue": "q", "type": "t", "type_version": 1, "labels": {}, "priority": 0, '
            b'"max_attempts": 20, "payload": [NaN]}]}',
            "headers": {**PRODUCE, **JSON_TYPE},
        },
        True,
    ),
    ("list tasks", "/v1/tasks", {"method": "GET"}, False),
]


class BrokenStore(InMemoryTaskStore):
    """A store whose lease fails with a bug, not a domain error."""

    async def lease(self, request: LeaseRequest, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the store")


@pytest.fixture
async def pair() -> AsyncIterator[tuple[ServiceApp, httpx.AsyncClient, httpx.AsyncClient]]:
    """The same service twice: with its fast path, and with the full stack only."""
    settings = settings_for("memory", None, max_body_bytes=LIMIT)
    async with (
        running_app(build_container(settings)) as (fast_app, fast),
        running_app(build_container(settings)) as (full_app, full),
    ):
        assert isinstance(fast_app, ServiceApp) and isinstance(full_app, ServiceApp)
        assert fast_app.fast_path is not None
        full_app.fast_path = None
        yield fast_app, fast, full


def answer(response: httpx.Response) -> tuple[int, str | None, str | None, str | None, bytes]:
    h = response.headers
    return (
        response.status_code,
        h.get("content-type"),
        h.get("www-authenticate"),
        h.get("allow"),
        response.content,
    )


@pytest.mark.parametrize(("name", "path", "options", "served"), CASES, ids=[c[0] for c in CASES])
async def test_the_fast_path_answers_byte_for_byte_as_the_full_stack(
    pair: tuple[ServiceApp, httpx.AsyncClient, httpx.AsyncClient],
    name: str,
    path: str,
    options: dict[str, Any],
    served: bool,
) -> None:
    app, fast, full = pair
    assert app.fast_path is not None
    options = dict(options)
    method = options.pop("method", "POST")
    before = app.fast_path.served
    answers = [answer(await client.request(method, path, **options)) for client in (fast, full)]
    assert answers[0] == answers[1]
    assert app.fast_path.served - before == (1 if served else 0)


async def test_a_body_sent_in_chunks_is_read_whole(
    pair: tuple[ServiceApp, httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    app, fast, _ = pair
    assert app.fast_path is not None
    created = await fast.post("/v1/tasks", json={"tasks": [{"queue": "q", "type": "t"}]})
    assert created.status_code == 201
    before = app.fast_path.served
    body = b'{"queue": "q", "worker_id": "w", "wait_seconds": 0}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = await fast.post(
        "/v1/leases", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200 and len(response.json()["leases"]) == 1
    assert app.fast_path.served - before == 1


async def test_a_body_over_the_limit_sent_in_chunks_is_refused_with_413(
    pair: tuple[ServiceApp, httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    _, fast, _ = pair
    body = b'{"queue": "q", "worker_id": "' + b"w" * LIMIT + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await fast.post(
        "/v1/leases", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["type"] == "payload_too_large"


async def test_fast_answers_are_counted_by_route_template(
    pair: tuple[ServiceApp, httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    _, fast, _ = pair
    for _ in range(3):
        assert (await fast.post("/v1/leases", json=LEASE)).status_code == 200
    heartbeat = await fast.post(f"/v1/tasks/{MISSING_ID}/heartbeat", json={"token": "t"})
    assert heartbeat.status_code == 404
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families((await fast.get("/metrics")).text)
        for s in family.samples
    }
    leases = (("method", "POST"), ("route", "/v1/leases"), ("status", "200"))
    assert samples[("leaseq_http_requests_total", leases)] == 3
    beats = (("method", "POST"), ("route", "/v1/tasks/{id}/heartbeat"), ("status", "404"))
    assert samples[("leaseq_http_requests_total", beats)] == 1
    latency = (("method", "POST"), ("route", "/v1/leases"))
    assert samples[("leaseq_http_request_duration_seconds_count", latency)] == 3


async def test_an_unexpected_error_is_a_500_problem_on_both_paths() -> None:
    answers = []
    for fast_path in (True, False):
        container = build_container(settings_for("memory", None))
        container.memory_store.override(
            providers.Singleton(
                BrokenStore,
                clock=container.clock,
                ids=container.ids,
                tokens=container.tokens,
                notifier=container.memory_notifier,
                limits=container.limits,
            )
        )
        app = container.http_app()
        assert isinstance(app, ServiceApp)
        if not fast_path:
            app.fast_path = None
        # The full stack re-raises to the server after its 500 (uvicorn logs it again).
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://localhost") as client,
        ):
            answers.append(answer(await client.post("/v1/leases", json=LEASE, headers=WORK)))
    assert answers[0] == answers[1]
    assert answers[0][0] == 500 and answers[0][1] == "application/problem+json"


async def test_an_enqueue_is_answered_on_the_fast_path_as_on_the_full_stack(
    pair: tuple[ServiceApp, httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    app, fast, full = pair
    assert app.fast_path is not None
    body = {"tasks": [TASK, {**TASK, "idempotency_key": "k"}, {**TASK, "idempotency_key": "k"}]}
    before = app.fast_path.served
    answers = [
        await client.post("/v1/tasks", json=body, headers=PRODUCE) for client in (fast, full)
    ]
    assert app.fast_path.served - before == 1
    shapes = [
        (
            a.status_code,
            a.headers["content-type"],
            [(t["state"], t["deduplicated"]) for t in a.json()["tasks"]],
        )
        for a in answers
    ]
    assert (
        shapes[0]
        == shapes[1]
        == (
            201,
            "application/json",
            [("pending", False), ("pending", False), ("pending", True)],
        )
    )


# Every shape an enqueue body takes, each named with how it is enqueued: one spec and its
# payloads ("each", ADR 0015), one spec and a (payload, key) per task ("keyed", ADR 0021),
# or task by task (None).
ENQUEUE_SHAPES: list[tuple[str, list[dict[str, Any]], str | None]] = [
    ("one minimal task", [{"queue": "q", "type": "q"}], "each"),
    ("one SDK task", [SDK_TASK], "each"),
    ("an SDK batch", [SDK_TASK, {**SDK_TASK, "payload": {"n": 2}}, SDK_TASK], "each"),
    (
        "an SDK batch, a key each",
        [{**SDK_TASK, "payload": n, "idempotency_key": f"sdk:r:{n}"} for n in range(3)],
        "keyed",
    ),
    ("one key twice", [{**SDK_TASK, "idempotency_key": "k"}] * 2, "keyed"),
    ("one keyed, one not", [{**SDK_TASK, "idempotency_key": "k"}, SDK_TASK], None),
    ("other labels", [SDK_TASK, {**SDK_TASK, "labels": {"k": "v"}}], None),
    ("other priority", [SDK_TASK, {**SDK_TASK, "priority": 1}], None),
    ("a run_at", [SDK_TASK, {**SDK_TASK, "run_at": "2030-01-01T00:00:00Z"}], None),
    ("a delay", [{**SDK_TASK, "delay_seconds": 5}, {**SDK_TASK, "delay_seconds": 5}], None),
    ("a retry policy", [{**SDK_TASK, "retry": {"factor": 3}}] * 2, None),
    ("a bool for an int", [SDK_TASK, {**SDK_TASK, "priority": True}], None),
    ("a float for an int", [{**SDK_TASK, "priority": 1.0}], None),
    ("a bad name in a batch", [SDK_TASK, {**SDK_TASK, "type": "bad type"}], None),
]


@pytest.mark.parametrize(
    ("shapes", "column_wise"), [c[1:] for c in ENQUEUE_SHAPES], ids=[c[0] for c in ENQUEUE_SHAPES]
)
async def test_every_enqueue_shape_is_answered_on_the_fast_path_as_on_the_full_stack(
    pair: tuple[ServiceApp, httpx.AsyncClient, httpx.AsyncClient],
    shapes: list[dict[str, Any]],
    column_wise: str | None,
) -> None:
    app, fast, full = pair
    assert app.fast_path is not None
    service = app.state.runtime.service
    calls: list[str] = []
    for name in ("enqueue_each", "enqueue_keyed"):
        setattr(
            service, name, _counted(calls, name.removeprefix("enqueue_"), getattr(service, name))
        )
    found = []
    for client in (fast, full):
        before = app.fast_path.served
        created = await client.post("/v1/tasks", json={"tasks": shapes}, headers=PRODUCE)
        tasks = created.json().get("tasks", [])
        stored = [(await client.get(f"/v1/tasks/{t['id']}")).json() for t in tasks]
        found.append(
            (
                created.status_code,
                created.headers["content-type"],
                created.json() if created.status_code >= 400 else None,
                [(t["state"], t["deduplicated"]) for t in tasks],
                [
                    (t["payload"], t["priority"], t["labels"], t["run_at"][:4], t["retry"])
                    for t in stored
                ],
            )
        )
        if client is fast:
            assert app.fast_path.served - before == 1
    assert found[0] == found[1]
    assert calls == ([column_wise] if column_wise else [])  # the fast app's service only


def _counted(calls: list[str], name: str, call: Any) -> Any:
    async def counted(*args: Any) -> Any:
        calls.append(name)
        return await call(*args)

    return counted
