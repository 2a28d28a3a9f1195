"""What a report answers, and what its observers see (ADR 0037): a `ReportedTask` (the
task's state and few fields), the whole task only when asked for; observers get whole
tasks when the service logs payloads, and a traced store still links each reported task
to its producer's span."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from dependency_injector import providers
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.system import RandomJitter
from leaseq.adapters.telemetry import TracedTaskStore
from leaseq.app.container import Container
from leaseq.app.observers import NoTaskEvents
from leaseq.app.services import TaskService
from leaseq.domain import ReportedTask, Task, TaskSpec, TaskState, Transition
from leaseq.ports import Complete, Fail, LeaseRequest, Retry, TaskStore
from tests.contract.http_fixtures import running_app, settings_for
from tests.contract.steps import LEASE_FOR

PAYLOAD = {"to": "a@b.c"}


class Seen(NoTaskEvents):
    """Records what the service tells its observers."""

    def __init__(self) -> None:
        self.transitions: list[tuple[Task | ReportedTask, Transition]] = []

    def transitioned(self, task: Task | ReportedTask, transition: Transition) -> None:
        self.transitions.append((task, transition))


async def leased_pair(store: TaskStore, labels: dict[str, str] | None = None) -> list[Task]:
    spec = TaskSpec(queue="q", type="t", payload=PAYLOAD, labels=labels or {}, max_attempts=1)
    await store.enqueue([spec, spec])
    return await store.lease(LeaseRequest("q", "w", 2, LEASE_FOR))


def token(task: Task) -> str:
    assert task.lease is not None
    return task.lease.token


@pytest.mark.parametrize("whole_reports", [False, True])
async def test_observers_get_whole_tasks_only_when_the_service_reads_them(
    whole_reports: bool,
) -> None:
    store, seen = InMemoryTaskStore(), Seen()
    service = TaskService(
        store, InMemoryNotifier(), RandomJitter(), events=seen, whole_reports=whole_reports
    )
    a, b = await leased_pair(store)
    answers = await service.report([Complete(a.id, token(a), 1), Retry(b.id, token(b), "x")])
    assert answers == [ReportedTask.of(await store.get(t.id)) for t in (a, b)]  # brief
    assert [transition for _, transition in seen.transitions] == [
        Transition.COMPLETED,
        Transition.DEAD_LETTERED,  # max_attempts 1: the retry used up the attempts
    ]
    for observed, task in zip(seen.transitions, (a, b), strict=True):
        stored = await store.get(task.id)
        expected = stored if whole_reports else ReportedTask.of(stored)
        assert observed[0] == expected


async def test_a_report_answers_whole_tasks_when_asked_and_repeats_as_asked() -> None:
    store = InMemoryTaskStore()
    service = TaskService(store, InMemoryNotifier(), RandomJitter())
    a, b = await leased_pair(store)
    [first] = await service.report([Fail(a.id, token(a), "bad")], with_tasks=True)
    assert first == ReportedTask.of(await store.get(a.id), whole=True)
    assert isinstance(first, ReportedTask) and first.task is not None
    assert first.task.payload == PAYLOAD and first.task.state is TaskState.DEAD
    # the same report again (its answer was lost): the first answer, brief or whole
    [brief] = await service.report([Fail(a.id, token(a), "bad")])
    [whole] = await service.report([Fail(a.id, token(a), "bad")], with_tasks=True)
    assert (brief, whole) == (ReportedTask.of(first.task), first)
    riding, _ = await service.report_and_lease(
        [Complete(b.id, token(b))], LeaseRequest("q", "w", 1, LEASE_FOR)
    )
    assert riding == [ReportedTask.of(await store.get(b.id))]


@pytest.mark.parametrize("with_tasks", [False, True])
async def test_a_traced_report_links_each_task_to_its_producer_and_answers_as_asked(
    with_tasks: bool,
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with TracerProvider().get_tracer("producer").start_as_current_span("produce") as produce:
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
    inner = InMemoryTaskStore()
    store = TracedTaskStore(inner, provider.get_tracer("leaseq"))
    a, b = await leased_pair(inner, labels=carrier)
    answers = await store.report([Complete(a.id, token(a))], with_tasks=with_tasks)
    assert answers == [ReportedTask.of(await inner.get(a.id), whole=with_tasks)]
    riding, _ = await store.report_and_lease(
        [Complete(b.id, token(b))], LeaseRequest("q", "w", 1, LEASE_FOR), with_tasks=with_tasks
    )
    assert riding == [ReportedTask.of(await inner.get(b.id), whole=with_tasks)]
    producer = produce.get_span_context().span_id
    for name in ("leaseq.store.report", "leaseq.store.report_and_lease"):
        [span] = [s for s in spans.get_finished_spans() if s.name == name]
        assert [link.context.span_id for link in span.links] == [producer]


async def test_logged_payloads_reach_the_lines_of_reported_transitions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """LEASEQ_LOG_PAYLOADS: the service reads whole tasks for its observers (ADR 0037)."""
    caplog.set_level(logging.INFO, logger="leaseq.tasks")
    container = Container()
    container.settings.override(providers.Object(settings_for("memory", None, log_payloads=True)))
    async with running_app(container) as (_, client):
        task = {"queue": "q", "type": "t", "payload": PAYLOAD, "max_attempts": 1}
        await client.post("/v1/tasks", json={"tasks": [task, task]})
        body: dict[str, Any] = {"queue": "q", "worker_id": "w", "max_tasks": 2}
        first, second = (await client.post("/v1/leases", json=body)).json()["leases"]
        failed = {
            "task_id": first["task_id"],
            "token": first["token"],
            "outcome": "fail",
            "error": "x",
        }
        done = {"task_id": second["task_id"], "token": second["token"], "outcome": "complete"}
        answer = await client.post(
            "/v1/results", json={"results": [failed], "include_tasks": False}
        )
        assert answer.json()["results"][0]["state"] == "dead"
        ride = await client.post("/v1/leases", json={**body, "results": [done]})
        assert ride.json()["results"][0]["state"] == "succeeded"
    lines = {
        record.transition: record  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "leaseq.tasks"
    }
    assert lines["failed"].payload == PAYLOAD  # type: ignore[attr-defined]
    assert lines["completed"].payload == PAYLOAD  # type: ignore[attr-defined]
    assert json.dumps(lines["failed"].error) == '"x"'  # type: ignore[attr-defined]
