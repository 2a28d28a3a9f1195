"""Traces, metrics and logs of task executions, read from in-memory exporters."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from leaseq.sdk import Client, Fatal, Retry, RetrySettings, TaskContext, Worker
from tests.sdk.test_worker import running

FAST_RETRY = RetrySettings(base_seconds=0.0, factor=1.0, max_seconds=0.0, jitter=0.0)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(spans: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


def observed_worker(
    client: Client, tracer_provider: TracerProvider, metric_reader: InMemoryMetricReader
) -> Worker:
    return Worker(
        client,
        queue="q",
        lease_seconds=1.5,
        wait_seconds=0.5,
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[metric_reader]),
    )


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    points: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = list(metric.data.data_points)
    return points


def total(points: dict[str, list[Any]], name: str) -> int:
    return sum(p.value for p in points.get(name, []))


async def test_each_execution_is_a_consumer_span_continuing_the_producers_trace(
    client: Client,
    tracer_provider: TracerProvider,
    spans: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    worker = observed_worker(client, tracer_provider, metric_reader)

    @worker.handler("traced")
    async def traced(ctx: TaskContext, payload: Any) -> None:
        return None

    with tracer_provider.get_tracer("producer").start_as_current_span("request") as producer:
        queued = await client.enqueue("q", "traced")
    async with running(worker):
        await client.wait_for(queued.id, timeout=5)
    [task_span] = [s for s in spans.get_finished_spans() if s.name == "leaseq.task traced"]
    assert task_span.kind is SpanKind.CONSUMER
    assert task_span.context.trace_id == producer.get_span_context().trace_id
    assert task_span.parent is not None
    assert task_span.parent.span_id == producer.get_span_context().span_id
    assert task_span.attributes is not None
    assert task_span.attributes["leaseq.task_id"] == str(queued.id)
    assert task_span.attributes["leaseq.outcome"] == "complete"


async def test_a_fatal_handler_span_records_the_error(
    client: Client,
    tracer_provider: TracerProvider,
    spans: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    worker = observed_worker(client, tracer_provider, metric_reader)

    @worker.handler("doomed")
    async def doomed(ctx: TaskContext, payload: Any) -> None:
        raise Fatal("no such mailbox")

    queued = await client.enqueue("q", "doomed")
    async with running(worker):
        await client.wait_for(queued.id, timeout=5)
    [span] = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_metrics_count_started_succeeded_retried_and_dead_lettered_tasks(
    client: Client,
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
) -> None:
    worker = observed_worker(client, tracer_provider, metric_reader)

    @worker.handler("mixed")
    async def mixed(ctx: TaskContext, payload: str) -> None:
        if payload == "fatal":
            raise Fatal("fatal")
        if payload == "retry-once" and ctx.attempt == 1:
            raise Retry(delay=0)
        return None

    ids = [
        (await client.enqueue("q", "mixed", p, retry=FAST_RETRY)).id
        for p in ("ok", "retry-once", "fatal")
    ]
    async with running(worker):
        for task_id in ids:
            await client.wait_for(task_id, timeout=5)
    points = metric_points(metric_reader)
    assert total(points, "leaseq.worker.tasks.started") == 4
    assert total(points, "leaseq.worker.tasks.succeeded") == 2
    assert total(points, "leaseq.worker.tasks.retried") == 1
    assert total(points, "leaseq.worker.tasks.dead_lettered") == 1
    assert sum(p.count for p in points["leaseq.worker.handler.duration"]) == 4


async def test_a_refused_heartbeat_is_counted_as_a_heartbeat_failure(
    client: Client,
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
) -> None:
    worker = observed_worker(client, tracer_provider, metric_reader)
    started, stopped = asyncio.Event(), asyncio.Event()

    @worker.handler("long")
    async def long(ctx: TaskContext, payload: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    queued = await client.enqueue("q", "long")
    async with running(worker):
        await asyncio.wait_for(started.wait(), 5)
        await client.cancel(queued.id)
        await asyncio.wait_for(stopped.wait(), 5)
    points = metric_points(metric_reader)
    [failure] = points["leaseq.worker.heartbeat.failures"]
    assert (failure.value, failure.attributes["reason"]) == (1, "task_cancelled")
    assert total(points, "leaseq.worker.tasks.abandoned") == 1


async def test_handler_logs_carry_the_task_fields(
    client: Client,
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = observed_worker(client, tracer_provider, metric_reader)

    @worker.handler("chatty")
    async def chatty(ctx: TaskContext, payload: Any) -> None:
        ctx.logger.info("sending", extra={"recipient": "a@b.c"})

    queued = await client.enqueue("q", "chatty")
    with caplog.at_level(logging.INFO, logger="leaseq.worker"):
        async with running(worker):
            await client.wait_for(queued.id, timeout=5)
    [record] = [r for r in caplog.records if r.getMessage() == "sending"]
    fields = {k: getattr(record, k) for k in ("task_id", "queue", "type", "attempt", "recipient")}
    assert fields == {
        "task_id": str(queued.id),
        "queue": "q",
        "type": "chatty",
        "attempt": 1,
        "recipient": "a@b.c",
    }
