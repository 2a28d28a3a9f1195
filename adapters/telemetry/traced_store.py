"""TracedTaskStore: a span around every call of another TaskStore (applied in the
composition root only when tracing is on, so the untraced path costs nothing).

Spans carry the queue, type, task id and outcome; a span about a task that a producer
traced (its `traceparent` label) links to the producer's span, so one task's enqueue and
every attempt read as one story.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from leaseq.domain import (
    JSON,
    DomainError,
    Enqueued,
    NewTasks,
    ReportedTask,
    Task,
    TaskEvent,
    TaskSpec,
)
from leaseq.ports import LeaseRequest, Outcome, QueueStats, TaskFilter, TaskPage, TaskStore

_PROPAGATOR = TraceContextTextMapPropagator()


class TracedTaskStore:
    def __init__(self, store: TaskStore, tracer: Tracer) -> None:
        self._store = store
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)  # adapter extras, e.g. the pool status

    @contextmanager
    def _span(self, call: str, **attributes: Any) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            f"leaseq.store.{call}",
            kind=SpanKind.CLIENT,
            attributes={k: v for k, v in attributes.items() if v is not None},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except DomainError as error:
                span.set_attribute("leaseq.outcome", error.code)
                raise
            except Exception as error:
                span.set_attribute("leaseq.outcome", "error")
                span.record_exception(error)
                span.set_status(StatusCode.ERROR, type(error).__name__)
                raise

    def _task(self, span: Span, task: Task) -> Task:
        span.set_attribute("leaseq.queue", task.queue)
        span.set_attribute("leaseq.type", task.type)
        span.set_attribute("leaseq.task_id", str(task.id))
        span.set_attribute("leaseq.outcome", task.state.value)
        _link_producer(span, task)
        return task

    async def enqueue(
        self, specs: Sequence[TaskSpec], *, now: datetime | None = None
    ) -> list[Enqueued]:
        queue = specs[0].queue if specs else None
        with self._span("enqueue", **{"leaseq.queue": queue, "leaseq.batch": len(specs)}) as span:
            answers = await self._store.enqueue(specs, now=now)
            if len(answers) == 1:
                self._task(span, answers[0].task)
            span.set_attribute("leaseq.outcome", "ok")
            return answers

    async def enqueue_each(
        self, spec: TaskSpec, payloads: Sequence[JSON], *, now: datetime | None = None
    ) -> NewTasks:
        attributes = {"leaseq.queue": spec.queue, "leaseq.batch": len(payloads)}
        with self._span("enqueue", **attributes) as span:
            new = await self._store.enqueue_each(spec, payloads, now=now)
            if len(new) == 1:
                self._task(span, new[0].task)
            span.set_attribute("leaseq.outcome", "ok")
            return new

    async def enqueue_keyed(
        self,
        spec: TaskSpec,
        payloads: Sequence[JSON],
        keys: Sequence[str],
        *,
        now: datetime | None = None,
    ) -> Sequence[Enqueued]:
        attributes = {"leaseq.queue": spec.queue, "leaseq.batch": len(payloads)}
        with self._span("enqueue", **attributes) as span:
            answers = await self._store.enqueue_keyed(spec, payloads, keys, now=now)
            if len(answers) == 1:
                self._task(span, answers[0].task)
            span.set_attribute("leaseq.outcome", "ok")
            return answers

    async def lease(self, request: LeaseRequest, *, now: datetime | None = None) -> list[Task]:
        attributes = {"leaseq.queue": request.queue, "leaseq.worker": request.owner}
        with self._span("lease", **attributes) as span:
            granted = await self._store.lease(request, now=now)
            span.set_attribute("leaseq.granted", len(granted))
            span.set_attribute("leaseq.outcome", "granted" if granted else "empty")
            for task in granted:
                _link_producer(span, task)
            if len(granted) == 1:
                span.set_attribute("leaseq.task_id", str(granted[0].id))
                span.set_attribute("leaseq.type", granted[0].type)
            return granted

    async def heartbeat(
        self, task_id: UUID, token: str, *, lease_for: timedelta, now: datetime | None = None
    ) -> Task:
        with self._span("heartbeat", **{"leaseq.task_id": str(task_id)}) as span:
            return self._task(
                span, await self._store.heartbeat(task_id, token, lease_for=lease_for, now=now)
            )

    async def complete(
        self, task_id: UUID, token: str, result: JSON = None, *, now: datetime | None = None
    ) -> Task:
        with self._span("complete", **{"leaseq.task_id": str(task_id)}) as span:
            return self._task(span, await self._store.complete(task_id, token, result, now=now))

    async def retry(
        self,
        task_id: UUID,
        token: str,
        error: str,
        *,
        delay: timedelta | None = None,
        jitter_draw: float = 0.0,
        now: datetime | None = None,
    ) -> Task:
        with self._span("retry", **{"leaseq.task_id": str(task_id)}) as span:
            task = await self._store.retry(
                task_id, token, error, delay=delay, jitter_draw=jitter_draw, now=now
            )
            return self._task(span, task)

    async def fail(
        self, task_id: UUID, token: str, error: str, *, now: datetime | None = None
    ) -> Task:
        with self._span("fail", **{"leaseq.task_id": str(task_id)}) as span:
            return self._task(span, await self._store.fail(task_id, token, error, now=now))

    async def release(self, task_id: UUID, token: str, *, now: datetime | None = None) -> Task:
        with self._span("release", **{"leaseq.task_id": str(task_id)}) as span:
            return self._task(span, await self._store.release(task_id, token, now=now))

    async def report(
        self,
        outcomes: Sequence[Outcome],
        *,
        with_tasks: bool = False,
        now: datetime | None = None,
    ) -> list[ReportedTask | DomainError]:
        with self._span("report", **{"leaseq.batch": len(outcomes)}) as span:
            whole = with_tasks or span.is_recording()  # the links read the tasks' labels
            answers = await self._store.report(outcomes, with_tasks=whole, now=now)
            refused = sum(1 for answer in answers if not isinstance(answer, ReportedTask))
            span.set_attribute("leaseq.refused", refused)
            span.set_attribute("leaseq.outcome", "ok" if not refused else "partly_refused")
            return _linked(span, answers, with_tasks)

    async def report_and_lease(
        self,
        outcomes: Sequence[Outcome],
        request: LeaseRequest,
        *,
        with_tasks: bool = False,
        now: datetime | None = None,
    ) -> tuple[list[ReportedTask | DomainError], list[Task]]:
        attributes = {
            "leaseq.queue": request.queue,
            "leaseq.worker": request.owner,
            "leaseq.batch": len(outcomes),
        }
        with self._span("report_and_lease", **attributes) as span:
            whole = with_tasks or span.is_recording()
            answers, granted = await self._store.report_and_lease(
                outcomes, request, with_tasks=whole, now=now
            )
            refused = sum(1 for answer in answers if not isinstance(answer, ReportedTask))
            answers = _linked(span, answers, with_tasks)
            for task in granted:
                _link_producer(span, task)
            span.set_attribute("leaseq.refused", refused)
            span.set_attribute("leaseq.granted", len(granted))
            return answers, granted

    async def cancel(self, task_id: UUID, *, now: datetime | None = None) -> Task:
        with self._span("cancel", **{"leaseq.task_id": str(task_id)}) as span:
            return self._task(span, await self._store.cancel(task_id, now=now))

    async def requeue(self, task_id: UUID, *, now: datetime | None = None) -> Task:
        with self._span("requeue", **{"leaseq.task_id": str(task_id)}) as span:
            return self._task(span, await self._store.requeue(task_id, now=now))

    async def get(self, task_id: UUID) -> Task:
        with self._span("get", **{"leaseq.task_id": str(task_id)}):
            return await self._store.get(task_id)

    async def list(self, filter: TaskFilter) -> TaskPage:
        with self._span("list", **{"leaseq.queue": filter.queue}):
            return await self._store.list(filter)

    async def history(self, task_id: UUID, *, limit: int = 100) -> builtins.list[TaskEvent]:
        with self._span("history", **{"leaseq.task_id": str(task_id)}):
            return await self._store.history(task_id, limit=limit)

    async def stats(
        self, queue: str | None = None, *, now: datetime | None = None
    ) -> builtins.list[QueueStats]:
        with self._span("stats", **{"leaseq.queue": queue}):
            return await self._store.stats(queue, now=now)

    async def expire_due(self, *, limit: int, now: datetime | None = None) -> int:
        with self._span("expire_due") as span:
            moved = await self._store.expire_due(limit=limit, now=now)
            span.set_attribute("leaseq.moved", moved)
            return moved

    async def prune(self, *, retention: timedelta, limit: int, now: datetime | None = None) -> int:
        with self._span("prune") as span:
            deleted = await self._store.prune(retention=retention, limit=limit, now=now)
            span.set_attribute("leaseq.deleted", deleted)
            return deleted

    async def close(self) -> None:
        await self._store.close()


def _linked(
    span: Span, answers: list[ReportedTask | DomainError], with_tasks: bool
) -> list[ReportedTask | DomainError]:
    """Link each reported task's producer (whole tasks, read for their labels); the answers
    as the caller asked for them (ADR 0037)."""
    for answer in answers:
        if isinstance(answer, ReportedTask) and answer.task is not None:
            _link_producer(span, answer.task)
    if with_tasks:
        return answers
    return [
        ReportedTask.of(a.task) if isinstance(a, ReportedTask) and a.task is not None else a
        for a in answers
    ]


def _link_producer(span: Span, task: Task) -> None:
    """Link to the span that enqueued the task, when the producer traced it."""
    traceparent = task.labels.get("traceparent")
    if traceparent is None or not span.is_recording():
        return
    carrier = {"traceparent": traceparent}
    if "tracestate" in task.labels:
        carrier["tracestate"] = task.labels["tracestate"]
    producer = get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    if producer.is_valid and producer != span.get_span_context():
        span.add_link(producer, {"leaseq.task_id": str(task.id)})
