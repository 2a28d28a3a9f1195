"""The service edge around the routes: the token before the body, loopback-only development
mode, /metrics access and bounded labels, the OpenAPI document's bounds, and leases that
nobody would receive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from attrs import evolve
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families

from leaseq.adapters.http.app import ServiceApp
from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.app.container import build_container
from leaseq.ports import LeaseRequest
from tests.contract.http_fixtures import running_app, settings_for, store_url
from tests.contract.test_http_api import MISSING_ID, PRODUCE, WORK, assert_problem

METRICS_TOKENS = "prod-secret:produce;work-secret:work;admin-secret:admin;scrape-secret:metrics"


async def asgi_call(
    app: Any, path: str, *, headers: list[tuple[bytes, bytes]], body: bytes = b"{}"
) -> tuple[int, bytes, int]:
    """(status, body, how many times the app asked for the request body)."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), asked


@pytest.fixture(params=["fast path", "full stack"])
async def app(request: pytest.FixtureRequest) -> AsyncIterator[ServiceApp]:
    built = build_container(settings_for("memory", None)).http_app()
    assert isinstance(built, ServiceApp)
    if request.param == "full stack":
        built.fast_path = None
    async with built.router.lifespan_context(built):
        yield built


BODY_ROUTES = [
    "/v1/tasks",
    "/v1/leases",
    "/v1/results",
    f"/v1/tasks/{MISSING_ID}/heartbeat",
    f"/v1/tasks/{MISSING_ID}/complete",
    f"/v1/tasks/{MISSING_ID}/retry",
]


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, b"Bearer guess", b"Bearer \x00secret", b"Bearer \xed\xa0\x80", b"Basic abc"],
)
async def test_a_request_without_a_good_token_is_refused_before_its_body_is_read(
    app: ServiceApp, path: str, authorization: bytes | None
) -> None:
    headers = [] if authorization is None else [(b"authorization", authorization)]
    deep = b"[" * 100_000 + b"]" * 100_000
    status, body, asked = await asgi_call(app, path, headers=headers, body=deep)
    assert status == 401 and orjson.loads(body)["type"] == "unauthorized"
    assert asked == 0


async def test_a_token_lacking_the_scope_is_refused_before_the_body_is_read(
    app: ServiceApp,
) -> None:
    status, _, asked = await asgi_call(
        app, "/v1/leases", headers=[(b"authorization", b"Bearer prod-secret")]
    )
    assert (status, asked) == (403, 0)
    status, _, asked = await asgi_call(
        app, "/v1/tasks", headers=[(b"authorization", b"Bearer work-secret")]
    )
    assert (status, asked) == (403, 0)


async def test_deep_json_is_a_422_counted_in_the_metrics(app: ServiceApp) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    for path in ("/v1/leases", "/v1/tasks", "/v1/results"):
        status, body, _ = await asgi_call(
            app, path, headers=[(b"authorization", b"Bearer admin-secret")], body=deep
        )
        assert status == 422 and orjson.loads(body)["errors"][0]["field"] == "body"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        text = (await http.get("/metrics", headers={"Authorization": "Bearer admin-secret"})).text
    assert 'route="/v1/leases",status="422"' in text


# -- development mode: loopback hosts only ------------------------------------------------


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        ("localhost", True),
        ("localhost:8000", True),
        ("127.0.0.1:1", True),
        ("[::1]:8000", True),
        ("[::1]", True),
        ("LOCALHOST:80", True),
        ("evil.example", False),
        ("evil.example:8000", False),
        ("127.0.0.1.evil.example", False),
        ("localhost:80:80", False),
        ("localhost:http", False),
        ("[::1]x", False),
        ("127.0.0.2", False),
        ("", False),
    ],
)
async def test_development_mode_answers_only_a_loopback_host(host: str, answered: bool) -> None:
    container = build_container(settings_for("memory", None, tokens=None))
    async with running_app(container) as (_, http):
        for path, method in (("/healthz", "GET"), ("/v1/leases", "POST"), ("/console", "GET")):
            body = {"queue": "q", "worker_id": "w"} if method == "POST" else None
            response = await http.request(method, path, json=body, headers={"Host": host})
            if answered:
                assert response.status_code < 400, response.text
            else:
                problem = assert_problem(response, 403, "host_not_allowed")
                assert problem["errors"] == [
                    {"field": "Host", "message": "must be a loopback host"}
                ]


async def test_with_tokens_any_host_is_answered() -> None:
    async with running_app(build_container(settings_for("memory", None))) as (_, http):
        assert (await http.get("/healthz", headers={"Host": "queue.example"})).status_code == 200


# -- /metrics ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 401),
        ("guess", 401),
        ("work-secret", 403),
        ("scrape-secret", 200),
        ("admin-secret", 200),
    ],
)
async def test_metrics_need_the_metrics_or_admin_scope_when_tokens_are_configured(
    token: str | None, status: int
) -> None:
    settings = settings_for("memory", None, tokens=METRICS_TOKENS)
    async with running_app(build_container(settings)) as (_, http):
        headers = {"Authorization": f"Bearer {token}" if token else ""}
        response = await http.get("/metrics", headers=headers)
        assert response.status_code == status
        if status == 200:
            assert "leaseq_http_requests_total" in response.text
        scraper = {"Authorization": "Bearer scrape-secret"}
        assert (await http.get("/v1/queues", headers=scraper)).status_code == 403


async def test_metrics_are_open_in_development_mode() -> None:
    async with running_app(build_container(settings_for("memory", None, tokens=None))) as (_, h):
        assert (await h.get("/metrics", headers={"Authorization": ""})).status_code == 200


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


@pytest.mark.parametrize("store", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_queue_and_type_labels_are_capped_and_the_rest_count_as_other(
    request: pytest.FixtureRequest, store: str
) -> None:
    request.param = store  # store_url reads the backend from the request
    async with store_url(request) as url:
        settings = settings_for(
            store, url, metrics_max_queues=3, metrics_max_types=2, stats_interval_seconds=0.05
        )
        async with running_app(build_container(settings)) as (_, http):
            tasks = [{"queue": f"q{i}", "type": f"t{i}"} for i in range(6)]
            assert (await http.post("/v1/tasks", json={"tasks": tasks})).status_code == 201
            await asyncio.sleep(0.3)  # a stats refresh of the queue gauges
            text = (await http.get("/metrics")).text
    enqueued = samples(text, "leaseq_task_transitions_total")
    queues = {dict(k)["queue"] for k in enqueued}
    types = {dict(k)["type"] for k in enqueued}
    assert queues == {"q0", "q1", "q2", "_other"} and types == {"t0", "t1", "_other"}
    assert sum(enqueued.values()) == 6
    depth = samples(text, "leaseq_queue_tasks")
    pending = {dict(k)["queue"]: v for k, v in depth.items() if dict(k)["state"] == "pending"}
    assert set(pending) == {"q0", "q1", "q2", "_other"} and pending["_other"] == 3


# -- the OpenAPI document ---------------------------------------------------------------


async def test_the_openapi_document_shows_every_bound_of_the_bodies() -> None:
    app = build_container(settings_for("memory", None)).http_app()
    schemas = app.openapi()["components"]["schemas"]
    task = schemas["TaskIn"]["properties"]
    assert task["priority"] == {"type": "integer", "minimum": -1000, "maximum": 1000, "default": 0}
    assert task["queue"]["maxLength"] == 128 and task["queue"]["pattern"].startswith("^")
    assert task["max_attempts"]["maximum"] == 1000 and task["type_version"]["minimum"] == 1
    assert task["labels"]["maxProperties"] == 64
    assert "64 bits" in task["payload"]["description"]
    run_at = task["run_at"]["anyOf"][0]
    assert run_at["x-minimum"].startswith("1970") and run_at["x-exclusiveMaximum"].startswith(
        "9999"
    )
    assert schemas["EnqueueIn"]["properties"]["tasks"]["maxItems"] == 1000
    lease = schemas["LeaseIn"]["properties"]
    assert lease["lease_seconds"]["minimum"] == 1 and lease["lease_seconds"]["maximum"] == 86400
    assert lease["max_tasks"]["maximum"] == 1000 and lease["wait_seconds"]["maximum"] == 60
    assert schemas["HeartbeatIn"]["properties"]["token"]["maxLength"] == 256
    assert schemas["ResultsIn"]["properties"]["results"]["maxItems"] == 1000
    retry = schemas["RetryIn"]["properties"]
    assert retry["factor"]["minimum"] == 1 and retry["jitter"]["maximum"] == 1
    body = app.openapi()["paths"]["/v1/leases"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LeaseIn"}


# -- leases nobody would receive --------------------------------------------------------


class SlowLeaseStore(InMemoryTaskStore):
    """A store whose claims take a while, so a client can leave while one is under way."""

    claim_started: asyncio.Event

    async def lease(self, request: LeaseRequest, **kwargs: Any) -> Any:
        self.claim_started.set()
        await asyncio.sleep(0.2)
        return await super().lease(request, **kwargs)


async def test_a_lease_granted_as_the_long_poll_s_client_left_is_released() -> None:
    container = build_container(settings_for("memory", None))
    container.memory_store.override(
        providers.Singleton(
            SlowLeaseStore,
            clock=container.clock,
            ids=container.ids,
            tokens=container.tokens,
            notifier=container.memory_notifier,
            limits=container.limits,
        )
    )
    async with running_app(container) as (app, http):
        store = container.memory_store()
        store.claim_started = asyncio.Event()
        left = asyncio.Event()
        body = orjson.dumps({"queue": "q", "worker_id": "gone", "wait_seconds": 5})
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await left.wait()
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/leases",
            "raw_path": b"/v1/leases",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"authorization", b"Bearer admin-secret"),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        polling = asyncio.create_task(app(scope, receive, send))
        await store.claim_started.wait()  # the first claim (nothing ready) is under way
        store.claim_started.clear()
        await store.claim_started.wait()  # the long poll's own first claim
        created = await http.post("/v1/tasks", json={"tasks": [{"queue": "q", "type": "t"}]})
        task_id = created.json()["tasks"][0]["id"]
        left.set()  # the client goes while the claim that grants the task runs
        await polling
        task = (await http.get(f"/v1/tasks/{task_id}")).json()
        assert task["state"] == "pending" and task["attempts"] == 0
        lease = (await http.post("/v1/leases", json={"queue": "q", "worker_id": "w"})).json()
        assert [g["task_id"] for g in lease["leases"]] == [task_id]


@pytest.mark.postgres
async def test_a_long_integer_stored_before_the_rule_is_still_answered_exactly(
    pg_migrated_url: str,
) -> None:
    import asyncpg

    async with running_app(build_container(settings_for("postgres", pg_migrated_url))) as (_, h):
        tasks = [{"queue": "q", "type": "t", "payload": {"i": i}} for i in range(4)]
        ids = [t["id"] for t in (await h.post("/v1/tasks", json={"tasks": tasks})).json()["tasks"]]
        # A value stored before the service refused such values (an older version).
        conn = await asyncpg.connect(pg_migrated_url)
        try:
            await conn.execute(
                "UPDATE leaseq_tasks SET payload = '{\"n\": 1180591620717411303424}'::json "
                "WHERE id = $1",
                ids[1],
            )
        finally:
            await conn.close()
        response = await h.post("/v1/leases", json={"queue": "q", "worker_id": "w", "max_tasks": 4})
        assert response.status_code == 200, response.text
        payloads = {g["task_id"]: g["payload"] for g in response.json()["leases"]}
        assert payloads[ids[1]] == {"n": 1180591620717411303424} and len(payloads) == 4
        assert (await h.get(f"/v1/tasks/{ids[1]}")).json()["payload"]["n"] == 2**70
        assert (await h.get("/v1/tasks", params={"state": "leased"})).status_code == 200


class UnwritableStore(InMemoryTaskStore):
    """Hands out one task whose payload no JSON encoder can write (a store bug)."""

    async def lease(self, request: LeaseRequest, **kwargs: Any) -> Any:
        granted = await super().lease(request, **kwargs)
        return [evolve(t, payload={"bad": {1j}}) if t.payload == {"i": 1} else t for t in granted]


async def test_a_lease_batch_with_a_task_it_cannot_write_answers_the_rest_and_holds_no_lease():
    container = build_container(settings_for("memory", None))
    container.memory_store.override(
        providers.Singleton(
            UnwritableStore,
            clock=container.clock,
            ids=container.ids,
            tokens=container.tokens,
            notifier=container.memory_notifier,
            limits=container.limits,
        )
    )
    async with running_app(container) as (_, h):
        tasks = [{"queue": "q", "type": "t", "payload": {"i": i}} for i in range(4)]
        ids = [t["id"] for t in (await h.post("/v1/tasks", json={"tasks": tasks})).json()["tasks"]]
        response = await h.post("/v1/leases", json={"queue": "q", "worker_id": "w", "max_tasks": 4})
        assert response.status_code == 200, response.text
        granted = [g["task_id"] for g in response.json()["leases"]]
        assert sorted(granted) == sorted([ids[0], ids[2], ids[3]])
        poisoned = (await h.get(f"/v1/tasks/{ids[1]}")).json()
        assert poisoned["state"] == "dead" and poisoned["lease"] is None
        assert "cannot write this task as JSON" in poisoned["last_error"]
        counts = (await h.get("/v1/queues/q")).json()["counts"]
        assert (counts["leased"], counts["dead"]) == (3, 1)


async def test_work_routes_answer_their_scope_alone(app: ServiceApp) -> None:
    status, _, _ = await asgi_call(
        app, "/v1/leases", headers=[(b"authorization", WORK["Authorization"].encode())]
    )
    assert status == 422  # {} lacks the queue: the token passed
    status, _, _ = await asgi_call(
        app, "/v1/tasks", headers=[(b"authorization", PRODUCE["Authorization"].encode())]
    )
    assert status == 422
