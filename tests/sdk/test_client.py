"""The client: enqueue options, typed errors (every transport), retry rules (real HTTP)."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from leaseq.sdk import (
    Client,
    InvalidTransition,
    PayloadTooLarge,
    RetryRule,
    ServiceUnavailable,
    SyncClient,
    TaskNotFound,
    TaskRequest,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from leaseq.sdk.transport.inprocess import InProcessTransport
from tests.sdk.scripted_server import scripted_server

QUICK = RetryRule(attempts=3, base_seconds=0.01, max_seconds=0.02)


def task_body(task_id: str, state: str = "pending") -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "id": task_id,
        "queue": "q",
        "type": "t",
        "type_version": 1,
        "payload": None,
        "labels": {},
        "priority": 0,
        "run_at": now,
        "attempts": 0,
        "max_attempts": 20,
        "retry": {"base_seconds": 1.0, "factor": 2.0, "max_seconds": 3600.0, "jitter": 0.2},
        "idempotency_key": None,
        "state": state,
        "epoch": 0,
        "lease": None,
        "last_error": None,
        "result": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }


UNAVAILABLE = (503, {"type": "store_unavailable", "title": "Unavailable", "status": 503})


# -- behaviour through every transport -------------------------------------------------


async def test_enqueue_with_a_repeated_idempotency_key_returns_the_same_task(
    client: Client,
) -> None:
    first = await client.enqueue("q", "t", {"n": 1}, idempotency_key="welcome:42")
    again = await client.enqueue("q", "t", {"n": 2}, idempotency_key="welcome:42")
    assert (again.id, first.deduplicated, again.deduplicated) == (first.id, False, True)
    assert (await client.get(first.id)).payload == {"n": 1}


async def test_history_tells_why_a_task_is_where_it_is(client: Client) -> None:
    queued = await client.enqueue("q", "t", None)
    await client.cancel(queued.id)
    events = await client.history(queued.id)
    assert [(e.transition, e.from_state, e.to_state) for e in events] == [
        ("enqueued", None, "pending"),
        ("cancelled", "pending", "cancelled"),
    ]
    assert [e.transition for e in await client.history(queued.id, limit=1)] == ["cancelled"]
    with pytest.raises(TaskNotFound):
        await client.history(uuid.UUID("01900000-0000-7000-8000-ffffffffffff"))


async def test_stats_carry_the_throughput_of_the_last_minute(client: Client) -> None:
    queued = await client.enqueue("q", "t", None)
    await client.cancel(queued.id)
    [info] = await client.stats("q")
    assert (info.succeeded_last_minute, info.dead_last_minute) == (0, 0)
    assert info.counts["cancelled"] == 1


async def test_enqueue_options_arrive_on_the_task(client: Client) -> None:
    before = datetime.now(UTC)
    queued = await client.enqueue(
        "q",
        "t",
        [1, 2],
        version=3,
        priority=7,
        delay=timedelta(seconds=60),
        max_attempts=4,
        labels={"tenant": "acme"},
    )
    task = await client.get(queued.id)
    assert (task.type_version, task.priority, task.max_attempts) == (3, 7, 4)
    assert task.labels == {"tenant": "acme"} and task.payload == [1, 2]
    assert task.run_at >= before + timedelta(seconds=59)
    [stats] = await client.stats("q")
    assert (stats.scheduled, stats.ready, stats.counts["pending"]) == (1, 0, 1)


async def test_enqueue_many_answers_in_order(client: Client) -> None:
    results = await client.enqueue_many([TaskRequest("q", "t", n) for n in range(3)])
    tasks = [await client.get(r.id) for r in results]
    assert [t.payload for t in tasks] == [0, 1, 2]


async def test_an_unknown_task_id_is_task_not_found(client: Client) -> None:
    with pytest.raises(TaskNotFound) as caught:
        await client.get(uuid.uuid4())
    assert (caught.value.status, caught.value.code) == (404, "task_not_found")


async def test_a_task_id_that_is_not_a_uuid_is_task_not_found(client: Client) -> None:
    with pytest.raises(TaskNotFound):
        await client.get("not-a-uuid")


async def test_an_invalid_queue_name_is_a_validation_failure_naming_the_field(
    client: Client,
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await client.enqueue("no spaces allowed", "t")
    assert caught.value.status == 422
    assert caught.value.errors and all("queue" in e["field"] for e in caught.value.errors)


async def test_an_oversized_payload_is_payload_too_large(client: Client) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        await client.enqueue("q", "t", "x" * (1024 * 1024 + 1))
    assert caught.value.status == 413


async def test_requeue_of_a_pending_task_is_an_invalid_transition(client: Client) -> None:
    queued = await client.enqueue("q", "t")
    with pytest.raises(InvalidTransition) as caught:
        await client.requeue(queued.id)
    assert caught.value.status == 409


async def test_cancel_then_requeue_makes_the_task_pending_again(client: Client) -> None:
    queued = await client.enqueue("q", "t")
    assert (await client.cancel(queued.id)).state == "cancelled"
    again = await client.requeue(queued.id)
    assert (again.state, again.attempts) == ("pending", 0)


async def test_list_pages_through_tasks_with_a_cursor(client: Client) -> None:
    ids = [r.id for r in await client.enqueue_many([TaskRequest("q", "t") for _ in range(5)])]
    seen, cursor = [], None
    while True:
        page = await client.list(queue="q", limit=2, cursor=cursor)
        seen += [t.id for t in page.tasks]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids


async def test_enqueue_inside_a_span_carries_its_traceparent_label(client: Client) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("produce") as span:
        queued = await client.enqueue("q", "t")
    trace_id = format(span.get_span_context().trace_id, "032x")
    traceparent = (await client.get(queued.id)).labels["traceparent"]
    assert traceparent.split("-")[1] == trace_id


async def test_enqueue_outside_a_span_adds_no_trace_label(client: Client) -> None:
    queued = await client.enqueue("q", "t")
    assert "traceparent" not in (await client.get(queued.id)).labels


def test_the_sync_client_enqueues_and_reads_back(service: Any) -> None:
    with SyncClient(InProcessTransport(service)) as client:
        queued = client.enqueue("q", "t", {"hello": "world"})
        assert client.get(queued.id).payload == {"hello": "world"}
        assert client.stats("q")[0].counts["pending"] == 1


# -- retry rules, against a real HTTP server -------------------------------------------


async def test_a_safe_call_is_retried_after_503_until_it_succeeds() -> None:
    task_id = str(uuid.uuid4())
    with scripted_server([UNAVAILABLE, UNAVAILABLE, (200, task_body(task_id))]) as (url, server):
        async with Client(url, retries=QUICK) as client:
            task = await client.get(task_id)
    assert str(task.id) == task_id and len(server.requests) == 3


async def test_a_safe_call_gives_up_after_its_attempts_with_service_unavailable() -> None:
    with scripted_server([UNAVAILABLE]) as (url, server):
        async with Client(url, retries=QUICK) as client:
            with pytest.raises(ServiceUnavailable) as caught:
                await client.get(uuid.uuid4())
    assert caught.value.status == 503 and len(server.requests) == 3


async def test_enqueue_without_an_idempotency_key_gets_one_and_is_sent_again_after_503() -> None:
    answer = {"tasks": [{"id": str(uuid.uuid4()), "state": "pending", "deduplicated": True}]}
    with scripted_server([UNAVAILABLE, (200, answer)]) as (url, server):
        async with Client(url, retries=QUICK) as client:
            result = await client.enqueue("q", "t")
    assert result.deduplicated and len(server.requests) == 2
    first, again = server.requests[0][3], server.requests[1][3]
    assert first == again  # the same request, the key the SDK made included
    assert first["tasks"][0]["idempotency_key"].startswith("sdk:")


async def test_each_enqueue_call_gets_keys_of_its_own_and_a_given_key_is_kept() -> None:
    answer = {"tasks": [{"id": str(uuid.uuid4()), "state": "pending", "deduplicated": False}] * 3}
    with scripted_server([(201, answer)]) as (url, server):
        async with Client(url) as client:
            for key in (None, "mine"):
                await client.enqueue_many(
                    [
                        TaskRequest("q", "t"),
                        TaskRequest("q", "t", idempotency_key=key),
                        TaskRequest("q", "t"),
                    ]
                )
    keys = [[t["idempotency_key"] for t in body["tasks"]] for _, _, _, body in server.requests]
    assert keys[1][1] == "mine"
    made = [k for batch in keys for k in batch if k != "mine"]
    assert len(set(made)) == len(made) == 5
    assert {k.rsplit(":", 1)[0] for k in keys[0]} != {
        k.rsplit(":", 1)[0] for k in keys[1] if k != "mine"
    }


async def test_enqueue_with_an_idempotency_key_is_retried_after_503() -> None:
    answer = {"tasks": [{"id": str(uuid.uuid4()), "state": "pending", "deduplicated": False}]}
    with scripted_server([UNAVAILABLE, (201, answer)]) as (url, server):
        async with Client(url, retries=QUICK) as client:
            result = await client.enqueue("q", "t", idempotency_key="k1")
    assert str(result.id) == answer["tasks"][0]["id"] and len(server.requests) == 2
    assert server.requests[0][3] == server.requests[1][3]  # the same request, key included


async def test_the_bearer_token_and_wire_format_are_sent() -> None:
    answer = {"tasks": [{"id": str(uuid.uuid4()), "state": "pending", "deduplicated": False}]}
    with scripted_server([(201, answer)]) as (url, server):
        async with Client(url, token="s3cret") as client:
            await client.enqueue("q", "t", {"a": 1}, delay=5, idempotency_key="k")
    method, path, headers, body = server.requests[0]
    assert (method, path, headers["Authorization"]) == ("POST", "/v1/tasks", "Bearer s3cret")
    assert body["tasks"][0] == {
        "queue": "q",
        "type": "t",
        "type_version": 1,
        "payload": {"a": 1},
        "labels": {},
        "priority": 0,
        "max_attempts": 20,
        "delay_seconds": 5,
        "idempotency_key": "k",
    }


async def test_a_problem_answer_becomes_its_typed_error_with_status_code_and_detail() -> None:
    problem = {"type": "unauthorized", "title": "Unauthorized", "status": 401, "detail": "no"}
    with scripted_server([(401, problem)]) as (url, _):
        async with Client(url, retries=QUICK) as client:
            with pytest.raises(Unauthorized) as caught:
                await client.stats()
    assert (caught.value.status, caught.value.code, caught.value.detail) == (
        401,
        "unauthorized",
        "no",
    )


async def test_a_refused_connection_is_a_transport_error_retried_even_for_unsafe_calls() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Client(f"http://127.0.0.1:{port}", retries=QUICK) as client:
        with pytest.raises(TransportError) as caught:
            await client.cancel(uuid.uuid4())
    assert caught.value.request_sent is False


async def test_a_report_answers_each_new_state_or_its_typed_refusal(client: Client) -> None:
    from leaseq.sdk import LeaseLost
    from leaseq.sdk.types import LeaseRequest, Outcome, Reported

    await client.enqueue_many([TaskRequest(queue="q", type="t") for _ in range(2)])
    first, second = await client.transport.lease(
        LeaseRequest(queue="q", worker_id="w", max_tasks=2)
    )
    answers = await client.transport.report(
        [
            Outcome(first.task_id, first.token, "complete", result={"n": 1}),
            Outcome(second.task_id, second.token, "retry", error="later"),
            Outcome(second.task_id, "stale", "fail", error="no"),
        ]
    )
    done, retried = (await client.get(first.task_id)), (await client.get(second.task_id))
    assert answers[:2] == [
        Reported(first.task_id, "succeeded", done.updated_at),
        Reported(second.task_id, "pending", retried.updated_at),
    ]
    assert isinstance(answers[2], LeaseLost)
    assert done.result == {"n": 1}


def test_tasks_keyed_by_the_sdk_equal_the_same_requests_given_those_keys() -> None:
    """Every field is copied, whichever are set (`_keyed` copies them field by field)."""
    from leaseq.sdk.resends import with_idempotency_keys
    from leaseq.sdk.types import RetrySettings

    delayed = TaskRequest(
        "q", "t", {"a": [1]}, version=3, labels={"k": "v"}, priority=-2,
        delay_seconds=1.5, max_attempts=7, retry=RetrySettings(base_seconds=2.0),
    )  # fmt: skip
    at = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    grouped = TaskRequest("r", "u", [2], run_at=at, concurrency_key="tenant-1")
    keyed = with_idempotency_keys([delayed, grouped])
    keys = [k.idempotency_key for k in keyed]
    assert None not in keys
    assert keyed == [
        TaskRequest(
            "q", "t", {"a": [1]}, version=3, labels={"k": "v"}, priority=-2, delay_seconds=1.5,
            max_attempts=7, retry=RetrySettings(base_seconds=2.0), idempotency_key=keys[0],
        ),
        TaskRequest(
            "r", "u", [2], run_at=at, concurrency_key="tenant-1", idempotency_key=keys[1]
        ),
    ]  # fmt: skip
