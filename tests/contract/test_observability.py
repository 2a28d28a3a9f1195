"""Observability of the service: one task's whole life (a retry and an expiry included) shows
up in the metrics, the spans and the transition logs with the right attributes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client.parser import text_string_to_metric_families

from leaseq.adapters.telemetry.logs import ConsoleFormatter, JsonFormatter, LoggingTaskEvents
from leaseq.app.container import Container
from leaseq.domain import Transition
from leaseq.domain import transitions as tr
from tests.contract.http_fixtures import running_app, settings_for
from tests.support import T0, FakeClock, SequentialIds, spec


class Observed:
    def __init__(self, client: httpx.AsyncClient, clock: FakeClock, spans: InMemorySpanExporter):
        self.client, self.clock, self.spans = client, clock, spans

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = (await self.client.get("/metrics")).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    async def until(self, check: Callable[[dict[Any, float]], bool]) -> dict[Any, float]:
        """Scrape until `check` holds (the background loops run every 50 ms)."""
        async with asyncio.timeout(5):
            # a scraper polls, as Prometheus does: the metrics endpoint is what is under test
            while not check(found := await self.metrics()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return found


@pytest.fixture
async def observed() -> AsyncIterator[Observed]:
    container = Container()
    container.settings.override(
        providers.Object(settings_for("memory", None, stats_interval_seconds=0.05))
    )
    clock = FakeClock()
    container.clock.override(providers.Object(clock))
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    container.tracer_provider.override(providers.Object(provider))
    async with running_app(container) as (_, client):
        yield Observed(client, clock, spans)


async def lease(client: httpx.AsyncClient, worker: str) -> dict[str, Any]:
    body = {"queue": "q", "worker_id": worker, "lease_seconds": 30}
    [granted] = (await client.post("/v1/leases", json=body)).json()["leases"]
    return dict(granted)


def transition(name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = (("queue", "q"), ("transition", name), ("type", "t"))
    return ("leaseq_task_transitions_total", labels)


async def test_a_task_life_with_a_retry_and_an_expiry_is_counted_traced_and_logged(
    observed: Observed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="leaseq.tasks")
    client, producer = observed.client, TracerProvider().get_tracer("producer")
    with producer.start_as_current_span("produce") as produce:
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
    task = {"queue": "q", "type": "t", "payload": {"secret": 1}, "labels": carrier}
    [created] = (await client.post("/v1/tasks", json={"tasks": [task]})).json()["tasks"]
    task_id = created["id"]

    first = await lease(client, "w1")
    retry = {"token": first["token"], "error": "SMTP 451", "delay_seconds": 0}
    assert (await client.post(f"/v1/tasks/{task_id}/retry", json=retry)).is_success
    second = await lease(client, "w2")
    observed.clock.advance(31)  # w2's lease runs out; the sweep (every 50 ms) expires it
    await observed.until(lambda m: m.get(("leaseq_leases_expired_total", ())) == 1)
    third = await lease(client, "w3")
    stale = await client.post(f"/v1/tasks/{task_id}/complete", json={"token": second["token"]})
    assert stale.status_code == 409
    done = await client.post(f"/v1/tasks/{task_id}/complete", json={"token": third["token"]})
    assert done.is_success

    # metrics: counted where the use case knows the outcome; gauges from the stats refresh
    found = await observed.until(
        lambda m: m.get(("leaseq_queue_tasks", (("queue", "q"), ("state", "succeeded")))) == 1
    )
    assert found[transition("enqueued")] == 1
    assert found[transition("leased")] == 3
    assert found[transition("retried")] == 1
    assert found[transition("completed")] == 1
    refused = ("leaseq_lease_refusals_total", (("call", "complete"), ("code", "lease_lost")))
    assert found[refused] == 1
    assert found[("leaseq_queue_oldest_ready_age_seconds", (("queue", "q"),))] == 0
    latency = (
        "leaseq_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/v1/leases")),
    )
    assert found[latency] == 3
    assert ("leaseq_long_poll_waiters", ()) in found

    # spans: the store calls, linked to the producer's span through the traceparent label
    spans = observed.spans.get_finished_spans()
    names = [s.name for s in spans]
    assert "POST /v1/leases" in names and "leaseq.store.lease" in names
    producer_id = produce.get_span_context().span_id
    leases = [s for s in spans if s.name == "leaseq.store.lease"]
    assert len(leases) == 3
    for span in leases:
        assert span.attributes is not None
        assert span.attributes["leaseq.queue"] == "q"
        assert span.attributes["leaseq.task_id"] == task_id
        assert [link.context.span_id for link in span.links] == [producer_id]
    [completed] = [
        s
        for s in spans
        if s.name == "leaseq.store.complete"
        and s.attributes
        and s.attributes["leaseq.outcome"] == "succeeded"
    ]
    assert completed.attributes and completed.attributes["leaseq.type"] == "t"
    assert [link.context.span_id for link in completed.links] == [producer_id]
    [refusal] = [s for s in spans if s.name == "leaseq.store.complete" and s is not completed]
    assert refusal.attributes and refusal.attributes["leaseq.outcome"] == "lease_lost"
    http = next(s for s in spans if s.name == "POST /v1/tasks/{id}/retry")
    assert http.attributes and http.attributes["http.response.status_code"] == 200

    # logs (default settings): one record per transition, the task's fields, no payload
    records = [r for r in caplog.records if r.name == "leaseq.tasks" and hasattr(r, "transition")]
    life = [(r.transition, r.attempt, r.epoch, r.worker) for r in records]  # type: ignore[attr-defined]
    assert life == [
        ("enqueued", 0, 0, None),
        ("leased", 1, 1, "w1"),
        ("retried", 1, 1, None),
        ("leased", 2, 2, "w2"),
        ("leased", 3, 3, "w3"),
        ("completed", 3, 3, None),
    ]
    assert all(r.task_id == task_id and r.queue == "q" for r in records)  # type: ignore[attr-defined]
    assert not any(hasattr(r, "payload") for r in records)
    assert any("expiry sweep" in r.getMessage() for r in caplog.records)

    # the history tells the same story, with the expiry in it
    events = (await client.get(f"/v1/tasks/{task_id}/history")).json()["events"]
    assert [e["transition"] for e in events] == [
        "enqueued",
        "leased",
        "retried",
        "leased",
        "expired",
        "leased",
        "completed",
    ]


def test_json_log_lines_carry_the_task_fields_and_payloads_only_when_asked() -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.leaseq.tasks")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    task = tr.new_task(spec(payload={"to": "a@b.c"}), task_id=SequentialIds().new_id(), now=T0)
    LoggingTaskEvents(logger).transitioned(task, Transition.ENQUEUED)
    LoggingTaskEvents(logger, payloads=True).transitioned(task, Transition.ENQUEUED)
    quiet, loud = (json.loads(line) for line in lines)
    assert quiet["message"] == "task enqueued" and quiet["level"] == "info"
    assert (quiet["task_id"], quiet["queue"], quiet["type"]) == (
        str(task.id),
        "emails",
        "send_email",
    )
    assert (quiet["attempt"], quiet["epoch"], quiet["transition"]) == (0, 0, "enqueued")
    assert "payload" not in quiet and loud["payload"] == {"to": "a@b.c"}


@pytest.mark.parametrize(
    ("setting", "logged"),
    [
        ("notable", ["retried", "failed", "expired", "cancelled", "requeued", "dead_lettered"]),
        ("all", [t.value for t in Transition]),
        ("none", []),
    ],
)
def test_which_transitions_are_logged_is_a_setting(setting: str, logged: list[str]) -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(f"test.leaseq.transitions.{setting}")
    logger.addHandler(Collect())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    task = tr.new_task(spec(), task_id=SequentialIds().new_id(), now=T0)
    events = LoggingTaskEvents(logger, transitions=setting)
    for transition in Transition:
        events.transitioned(task, transition)
    assert [r.transition for r in records] == logged  # type: ignore[attr-defined]


def test_an_unknown_transition_logging_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="all, notable, none"):
        LoggingTaskEvents(transitions="some")


def test_console_timestamps_match_the_standard_format_across_seconds() -> None:
    console, standard = ConsoleFormatter(), logging.Formatter("%(asctime)s")
    for created in (1_700_000_000.001, 1_700_000_000.999, 1_700_000_001.5, 1_700_000_000.25):
        record = logging.makeLogRecord({"msg": "m"})
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert console.formatTime(record) == standard.formatTime(record)


@pytest.mark.parametrize("formatter", [ConsoleFormatter(), JsonFormatter()])
def test_log_lines_carry_no_ansi_codes_from_uvicorns_colour_message(
    formatter: logging.Formatter,
) -> None:
    record = logging.makeLogRecord(
        {"msg": "Started server process [%d]", "args": (7,), "color_message": "\x1b[36m%d\x1b[0m"}
    )
    line = formatter.format(record)
    assert "Started server process [7]" in line
    assert "\x1b" not in line and "color_message" not in line


async def test_a_batch_is_counted_and_logged_once_per_new_task(
    observed: Observed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="leaseq.tasks")
    client = observed.client
    batch = [
        {"queue": "q", "type": "t", "payload": 1},
        {"queue": "q", "type": "t", "payload": 2, "idempotency_key": "k"},
        {"queue": "q", "type": "u", "payload": 3},
        {"queue": "q", "type": "t", "payload": 4, "idempotency_key": "k"},  # a repeat
    ]
    first = (await client.post("/v1/tasks", json={"tasks": batch})).json()["tasks"]
    assert [t["deduplicated"] for t in first] == [False, False, False, True]
    again = await client.post("/v1/tasks", json={"tasks": [batch[1]]})  # an old task
    assert again.status_code == 200 and again.json()["tasks"][0]["id"] == first[1]["id"]

    found = await observed.metrics()
    assert found[transition("enqueued")] == 2
    labels = (("queue", "q"), ("transition", "enqueued"), ("type", "u"))
    assert found[("leaseq_task_transitions_total", labels)] == 1
    logged = [r for r in caplog.records if getattr(r, "transition", None) == "enqueued"]
    assert sorted(r.task_id for r in logged) == sorted(t["id"] for t in first[:3])
