"""One task's run inside a worker: the handler, its heartbeats, and its outcome.

The lease is kept alive by heartbeats every third of its duration. When a heartbeat is
refused (lease lost or expired, task cancelled) or the lease's local deadline passes with
no renewal, the handler is cancelled and nothing is reported: another worker may own the
task by then. On shutdown the handler is cancelled and the lease released instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from leaseq.sdk import errors
from leaseq.sdk.context import TaskContext
from leaseq.sdk.outcomes import Fatal, Retry
from leaseq.sdk.registry import Handler
from leaseq.sdk.reporter import ResultReporter
from leaseq.sdk.telemetry import WorkerTelemetry
from leaseq.sdk.tracing import producer_context
from leaseq.sdk.transport.base import Transport
from leaseq.sdk.types import LeaseInfo, Outcome

HEARTBEAT_FRACTION = 1 / 3
MAX_ERROR_CHARS = 4000


class Execution:
    def __init__(
        self,
        lease: LeaseInfo,
        handler: Handler,
        *,
        granted_at: float,
        lease_seconds: float,
        transport: Transport,
        reporter: ResultReporter,
        telemetry: WorkerTelemetry,
        executor: concurrent.futures.Executor,
        logger: logging.Logger,
        handler_done: Callable[[Execution], None] | None = None,
    ) -> None:
        self.lease = lease
        self._handler_done = handler_done
        self._handler = handler
        self._lease_seconds = lease_seconds
        self._transport = transport
        self._reporter = reporter
        self._telemetry = telemetry
        self._executor = executor
        # The request left at `granted_at`, so the service's expiry is no earlier than this.
        self.context = TaskContext(lease, deadline=granted_at + lease_seconds, logger=logger)
        self._log = self.context.logger
        self._handler_task: asyncio.Task[Outcome] | None = None
        self.abandoned: str | None = None

    def abandon(self, reason: str) -> None:
        """Stop the handler without reporting (reason "shutdown" releases the lease)."""
        if self.abandoned is None:
            self.abandoned = reason
            self.context.lease_lost.set()
            if self._handler_task is not None:
                self._handler_task.cancel()

    async def run(self) -> None:
        self._handler_task = asyncio.create_task(self._invoke())
        keep_alive = asyncio.create_task(self._keep_alive())
        try:
            outcome = await self._handler_task
        except asyncio.CancelledError:
            if self.abandoned is None:  # the worker itself is being cancelled
                raise
            await self._give_up()
            return
        finally:
            keep_alive.cancel()
            if self._handler_done is not None:
                # The slot is free once the handler returns: the next claim overlaps
                # with this report instead of waiting a round trip for it.
                self._handler_done(self)
        await self._report(outcome)

    # -- the handler ---------------------------------------------------------------

    async def _invoke(self) -> Outcome:
        lease, ctx = self.lease, self.context
        attributes = self._telemetry.attributes(lease)
        self._telemetry.started.add(1, attributes)
        started = time.monotonic()
        status = "error"
        with self._telemetry.tracer.start_as_current_span(
            f"leaseq.task {lease.type}",
            context=producer_context(lease.labels),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "leaseq",
                "messaging.destination.name": lease.queue,
                "leaseq.task_id": str(lease.task_id),
                "leaseq.task_type": lease.type,
                "leaseq.type_version": lease.type_version,
                "leaseq.attempt": lease.attempt,
                "leaseq.epoch": lease.epoch,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                result = await self._call()
                status = "ok"
            except Retry as request:
                span.set_attribute("leaseq.outcome", "retry")
                return self._outcome("retry", error=request.message, delay=request.delay_seconds)
            except Fatal as fatal:
                span.record_exception(fatal)
                span.set_status(trace.StatusCode.ERROR, fatal.message)
                span.set_attribute("leaseq.outcome", "fail")
                return self._outcome("fail", error=fatal.message)
            except asyncio.CancelledError:
                span.set_attribute("leaseq.outcome", f"abandoned:{self.abandoned}")
                status = "abandoned"
                raise
            except Exception as error:
                span.record_exception(error)
                span.set_status(trace.StatusCode.ERROR, repr(error))
                span.set_attribute("leaseq.outcome", "retry")
                ctx.logger.warning("handler raised %r; the task will be retried", error)
                return self._outcome("retry", error=summarize(error))
            finally:
                elapsed = time.monotonic() - started
                self._telemetry.duration.record(elapsed, {**attributes, "status": status})
            span.set_attribute("leaseq.outcome", "complete")
            return self._outcome("complete", result=result)

    async def _call(self) -> Any:
        handler, ctx, payload = self._handler, self.context, self.lease.payload
        if handler.is_async:
            call = handler.function(ctx, payload)
        else:
            loop = asyncio.get_running_loop()
            bound = functools.partial(
                contextvars.copy_context().run, handler.function, ctx, payload
            )
            call = loop.run_in_executor(self._executor, bound)
        async with asyncio.timeout(handler.timeout):
            result = await call
            # A sync callable may hand back a coroutine (e.g. a lambda over an async function).
            return await result if inspect.isawaitable(result) else result

    def _outcome(
        self, kind: Any, *, result: Any = None, error: str | None = None, delay: float | None = None
    ) -> Outcome:
        return Outcome(self.lease.task_id, self.lease.token, kind, result, error, delay)

    # -- the lease -----------------------------------------------------------------

    async def _keep_alive(self) -> None:
        interval = self._lease_seconds * HEARTBEAT_FRACTION
        next_beat = self.context.deadline - self._lease_seconds + interval
        while True:
            now = time.monotonic()
            if now >= self.context.deadline:
                self._lost("deadline", "the lease ran out before a heartbeat renewed it")
                return
            await asyncio.sleep(max(0.0, min(next_beat, self.context.deadline) - now))
            if time.monotonic() >= self.context.deadline:
                continue
            sent = time.monotonic()
            try:
                async with asyncio.timeout(max(0.001, self.context.deadline - sent)):
                    await self._transport.heartbeat(
                        self.lease.task_id, self.lease.token, self._lease_seconds
                    )
            except errors.TaskCancelled:
                self._telemetry.heartbeat_failures.add(1, {"reason": "task_cancelled"})
                self._lost("cancelled", "the task was cancelled")
                return
            except (errors.LeaseConflict, errors.TaskNotFound) as refusal:
                self._telemetry.heartbeat_failures.add(1, {"reason": refusal.code})
                self._lost("lease_lost", f"heartbeat refused: {refusal.code}")
                return
            except (errors.LeaseqClientError, TimeoutError) as failure:
                self._telemetry.heartbeat_failures.add(1, {"reason": "unanswered"})
                self._log.warning("heartbeat failed, retrying: %r", failure)
                next_beat = time.monotonic() + min(interval, 0.5)
                continue
            self.context.deadline = sent + self._lease_seconds
            next_beat = sent + interval

    def _lost(self, reason: str, message: str) -> None:
        if self.abandoned is None:
            self._log.warning("stopping the handler without reporting: %s", message)
        self.abandon(reason)

    async def _give_up(self) -> None:
        self._telemetry.abandoned.add(
            1, {**self._telemetry.attributes(self.lease), "reason": self.abandoned or ""}
        )
        if self.abandoned != "shutdown":
            return
        try:
            await self._transport.release(self.lease.task_id, self.lease.token)
            self._log.info("released the task at shutdown")
        except errors.LeaseqClientError as error:
            self._log.warning("could not release the task at shutdown: %r", error)

    async def _report(self, outcome: Outcome) -> None:
        answer = await self._reporter.submit(outcome, deadline=self.context.deadline)
        attributes = self._telemetry.attributes(self.lease)
        if isinstance(answer, errors.LeaseqClientError):
            self._telemetry.refused.add(1, {**attributes, "code": answer.code})
            self._log.warning("the %s result was refused: %s", outcome.kind, answer.code)
            return
        if answer.state == "succeeded":
            self._telemetry.succeeded.add(1, attributes)
        elif answer.state == "dead":
            self._telemetry.dead_lettered.add(1, attributes)
        else:
            self._telemetry.retried.add(1, attributes)
        self._log.info(
            "task %s", answer.state, extra={"outcome": outcome.kind, "state": answer.state}
        )


def summarize(error: BaseException) -> str:
    """The exception and its innermost frames, short enough to store as the task's error."""
    text = "".join(traceback.format_exception(error, limit=-3)).strip()
    return text if len(text) <= MAX_ERROR_CHARS else "…" + text[-MAX_ERROR_CHARS + 1 :]


__all__ = ["Execution", "summarize"]
