"""The producer and operator client: enqueue, inspect, cancel and redrive tasks."""

from __future__ import annotations

import asyncio
import builtins
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from attrs import evolve

from leaseq.sdk.resends import with_idempotency_keys
from leaseq.sdk.retrying import DEFAULT_RETRIES, RetryRule, with_retries
from leaseq.sdk.tracing import trace_labels
from leaseq.sdk.transport.base import FINAL_STATES, MAX_AWAIT, TaskId, Transport
from leaseq.sdk.types import (
    JSON,
    EnqueueResult,
    FlowLimits,
    QueueInfo,
    QueueState,
    RetrySettings,
    ScheduleInfo,
    TaskEventInfo,
    TaskInfo,
    TaskPage,
    TaskRequest,
    TaskStateName,
)


class Client:
    """Talks to a leaseq service through a transport.

    `Client("http://127.0.0.1:8000", token=...)` uses HTTP (a list of URLs: service
    replicas, tried in turn after a failure with no answer); `Client(transport)` any
    transport (e.g. `InProcessTransport(service)` to embed the queue). Use it as an
    async context manager, or call `aclose()`.
    """

    def __init__(
        self,
        url_or_transport: str | list[str] | tuple[str, ...] | Transport,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        retries: RetryRule = DEFAULT_RETRIES,
    ) -> None:
        if isinstance(url_or_transport, str | list | tuple):
            from leaseq.sdk.transport.http import HttpTransport

            self.transport: Transport = HttpTransport(url_or_transport, token, timeout=timeout)
        else:
            self.transport = url_or_transport
        self._retries = retries

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()

    # producers -----------------------------------------------------------------------

    async def enqueue(
        self,
        queue: str,
        type: str,
        payload: JSON = None,
        *,
        version: int = 1,
        priority: int = 0,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
        max_attempts: int = 20,
        retry: RetrySettings | None = None,
        labels: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        concurrency_key: str | None = None,
    ) -> EnqueueResult:
        """Enqueue one task. Sent again after a lost answer: the task carries an
        idempotency key (made here when none is given), so a repeat makes no second task.
        `concurrency_key` groups tasks for the queue's per-key limit and round-robin."""
        request = TaskRequest(
            queue=queue,
            type=type,
            payload=payload,
            version=version,
            labels=dict(labels or {}),
            priority=priority,
            run_at=run_at,
            delay_seconds=delay.total_seconds() if isinstance(delay, timedelta) else delay,
            max_attempts=max_attempts,
            retry=retry,
            idempotency_key=idempotency_key,
            concurrency_key=concurrency_key,
        )
        [result] = await self.enqueue_many([request])
        return result

    async def enqueue_many(self, requests: Sequence[TaskRequest]) -> builtins.list[EnqueueResult]:
        """Enqueue a batch atomically (all or nothing); answers in order. Each task without
        an idempotency key gets one ("sdk:<random>:<index>"), so the batch is safe to send
        again after a lost answer: a repeat answers the first tasks, deduplicated."""
        extra = trace_labels()  # one span for the whole batch: read it once
        traced = [_traced(r, extra) for r in requests] if extra else requests
        keyed = with_idempotency_keys(traced)
        return await with_retries(
            lambda: self.transport.enqueue(keyed), safe=True, rule=self._retries
        )

    # operators -----------------------------------------------------------------------

    async def get(self, task_id: TaskId) -> TaskInfo:
        return await with_retries(
            lambda: self.transport.get(task_id), safe=True, rule=self._retries
        )

    async def list(
        self,
        *,
        queue: str | None = None,
        state: TaskStateName | None = None,
        type: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> TaskPage:
        """One page of tasks, oldest first; pass `next_cursor` back for the next page."""
        return await with_retries(
            lambda: self.transport.list(
                queue=queue, state=state, type=type, limit=limit, cursor=cursor
            ),
            safe=True,
            rule=self._retries,
        )

    async def history(self, task_id: TaskId, limit: int = 100) -> builtins.list[TaskEventInfo]:
        """The task's most recent transitions (at most `limit`), oldest first: why it is
        where it is. Needs the admin scope."""
        return await with_retries(
            lambda: self.transport.history(task_id, limit), safe=True, rule=self._retries
        )

    async def cancel(self, task_id: TaskId) -> TaskInfo:
        """Cancel a pending or leased task (a running handler is stopped at its next beat)."""
        return await with_retries(
            lambda: self.transport.cancel(task_id), safe=False, rule=self._retries
        )

    async def requeue(self, task_id: TaskId) -> TaskInfo:
        """Redrive a dead or cancelled task: pending again, attempts reset."""
        return await with_retries(
            lambda: self.transport.requeue(task_id), safe=False, rule=self._retries
        )

    async def stats(self, queue: str | None = None) -> builtins.list[QueueInfo]:
        return await with_retries(
            lambda: self.transport.stats(queue), safe=True, rule=self._retries
        )

    # queues and schedules (operators: the admin scope) --------------------------------

    async def queue(self, queue: str) -> QueueState:
        """One queue's counts, whether it is paused, its limits and its live leases (in all
        and per concurrency key)."""
        return await with_retries(
            lambda: self.transport.queue(queue), safe=True, rule=self._retries
        )

    async def pause(self, queue: str) -> QueueState:
        """Grant no lease of the queue until `resume` (enqueue goes on, held leases
        finish), on every replica at once. Idempotent, so sent again after a lost answer."""
        return await with_retries(
            lambda: self.transport.set_paused(queue, True), safe=True, rule=self._retries
        )

    async def resume(self, queue: str) -> QueueState:
        return await with_retries(
            lambda: self.transport.set_paused(queue, False), safe=True, rule=self._retries
        )

    async def set_limits(
        self,
        queue: str,
        *,
        concurrency: int | None = None,
        concurrency_per_key: int | None = None,
        rate_per_second: float | None = None,
    ) -> QueueState:
        """Replace the queue's flow-control limits (all three; None lifts one), enforced
        at every grant on every replica: at most `concurrency` live leases on the queue,
        `concurrency_per_key` per concurrency key, `rate_per_second` leases started per
        second (bursts of one second's worth); equal priorities go round-robin across
        keys. Idempotent, so sent again after a lost answer. Raises ValidationFailed."""
        limits = FlowLimits(concurrency, concurrency_per_key, rate_per_second)
        return await with_retries(
            lambda: self.transport.set_limits(queue, limits), safe=True, rule=self._retries
        )

    async def set_schedule(
        self,
        name: str,
        cron: str,
        queue: str,
        type: str,
        payload: JSON = None,
        *,
        timezone: str = "UTC",
        version: int = 1,
        priority: int = 0,
        max_attempts: int = 20,
        retry: RetrySettings | None = None,
        labels: Mapping[str, str] | None = None,
        concurrency_key: str | None = None,
    ) -> ScheduleInfo:
        """Create or replace the schedule `name`: one task per fire time of `cron` (5
        fields, or 6 with seconds first) in `timezone`, each fire time enqueued exactly once
        across replicas. Replacing it is idempotent. Raises ValidationFailed."""
        task = TaskRequest(
            queue=queue,
            type=type,
            payload=payload,
            version=version,
            labels=dict(labels or {}),
            priority=priority,
            max_attempts=max_attempts,
            retry=retry,
            concurrency_key=concurrency_key,
        )
        return await with_retries(
            lambda: self.transport.put_schedule(name, cron, timezone, task),
            safe=True,
            rule=self._retries,
        )

    async def schedule(self, name: str) -> ScheduleInfo:
        """Raises ScheduleNotFound."""
        return await with_retries(
            lambda: self.transport.schedule(name), safe=True, rule=self._retries
        )

    async def schedules(self) -> builtins.list[ScheduleInfo]:
        """Every schedule, sorted by name."""
        return await with_retries(self.transport.schedules, safe=True, rule=self._retries)

    async def delete_schedule(self, name: str) -> ScheduleInfo:
        """Delete a schedule; the schedule as it was. Not sent again after a lost answer
        (a repeat would find nothing). Raises ScheduleNotFound."""
        return await with_retries(
            lambda: self.transport.delete_schedule(name), safe=False, rule=self._retries
        )

    async def wait(self, task_id: TaskId, *, timeout: float | None = None) -> TaskInfo:
        """The task once it is final (succeeded, dead or cancelled), long-polling the
        service (`GET /v1/tasks/{id}?wait_seconds=`, 60 s a round): woken when the task
        finishes, no polling. `timeout` in seconds (None: no limit); TimeoutError when it
        passes first. Raises TaskNotFound."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wait = MAX_AWAIT if deadline is None else min(MAX_AWAIT, deadline - loop.time())
            if wait <= 0:
                raise TimeoutError(f"task {task_id} is not final after {timeout} s")
            task = await with_retries(
                functools.partial(self.transport.wait, task_id, wait),
                safe=True,
                rule=self._retries,
            )
            if task.state in FINAL_STATES:
                return task

    async def wait_for(
        self, task_id: TaskId, *, timeout: float = 30.0, interval: float = 0.05
    ) -> TaskInfo:
        """Poll until the task is finished (succeeded, dead or cancelled); for scripts
        and tests. Raises TimeoutError."""
        async with asyncio.timeout(timeout):
            while True:
                task = await self.get(task_id)
                if task.state in ("succeeded", "dead", "cancelled"):
                    return task
                await asyncio.sleep(interval)


def _traced(request: TaskRequest, extra: Mapping[str, str]) -> TaskRequest:
    """The request with the producer's trace context, unless it names one itself."""
    if "traceparent" in request.labels:
        return request
    labels = {**request.labels, **extra}
    return request if labels == request.labels else evolve(request, labels=labels)


__all__ = ["Client"]
