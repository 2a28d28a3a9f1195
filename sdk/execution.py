"""One task's run inside a worker: the handler, and its outcome.

The worker's `Heartbeats` keeps the lease alive. When a heartbeat is refused (lease lost
or expired, task cancelled) or the lease's local deadline passes with no renewal, the
handler is cancelled and nothing is reported: another worker may own the task by then.
On shutdown the handler is cancelled and the lease released instead.
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

from leaseq.sdk import errors, resends
from leaseq.sdk.context import TaskContext
from leaseq.sdk.heartbeats import Heartbeats
from leaseq.sdk.outcomes import Fatal, Retry
from leaseq.sdk.registry import Handler
from leaseq.sdk.reporter import Answer, ResultReporter
from leaseq.sdk.telemetry import WorkerTelemetry
from leaseq.sdk.tracing import producer_context
from leaseq.sdk.transport.base import Transport
from leaseq.sdk.types import LeaseInfo, Outcome

MAX_ERROR_CHARS = 4000


class Execution:
    """One leased task from the handler's start to its reported outcome: a single asyncio
    task runs the handler; the worker's `Heartbeats` keeps the lease alive meanwhile; the
    reporter sends the outcome and calls back with the answer."""

    def __init__(
        self,
        lease: LeaseInfo,
        handler: Handler,
        *,
        granted_at: float,
        lease_seconds: float,
        transport: Transport,
        reporter: ResultReporter,
        heartbeats: Heartbeats,
        telemetry: WorkerTelemetry,
        executor: concurrent.futures.Executor,
        logger: logging.Logger,
        handler_done: Callable[[Execution], None] | None = None,
        reported: Callable[[Execution], None] | None = None,
    ) -> None:
        self.lease = lease
        self._handler_done = handler_done
        self._reported = reported
        self._handler = handler
        self._transport = transport
        self._reporter = reporter
        self._heartbeats = heartbeats
        self._telemetry = telemetry
        self._executor = executor
        self._logger = logger
        # The request left at `granted_at`, so the service's expiry is no earlier than this.
        self.context = TaskContext(lease, deadline=granted_at + lease_seconds, logger=logger)
        self.task: asyncio.Task[None] | None = None
        self._handling = False
        self._cancelled = False  # we cancelled our own task to stop the handler
        self._kind = ""  # the outcome sent
        self._reason = ""  # why, for a retry or a failure: the error's headline
        self.abandoned: str | None = None
        self.ran_seconds: float | None = None  # how long the handler ran, once it has ended

    def start(self) -> asyncio.Task[None]:
        # (Unnamed: formatting the task id into a name was ~4 % of the worker's own cost.)
        self.task = asyncio.create_task(self.run())
        return self.task

    def abandon(self, reason: str) -> None:
        """Stop the handler without reporting (reason "shutdown" releases the lease)."""
        if self.abandoned is None:
            self.abandoned = reason
            self.context.lease_lost.set()
            if self._handling and self.task is not None and not self.task.done():
                self._cancelled = True
                self.task.cancel()

    def lose(self, reason: str, message: str) -> None:
        """The lease is gone (refused heartbeat, deadline passed): stop, report nothing.
        Too late once the handler has returned: its outcome is on its way."""
        if not self._handling:
            return
        if self.abandoned is None:
            self.context.logger.warning("stopping the handler without reporting: %s", message)
        self.abandon(reason)

    async def run(self) -> None:
        outcome: Outcome | None = None
        if self.abandoned is None:  # (it may be given up before its first step)
            self._handling = True
            self._heartbeats.watch(self)
        try:
            if self.abandoned is None:
                outcome = await self._invoke()
        except BaseException as error:
            if not (self._cancelled and isinstance(error, asyncio.CancelledError)):
                self._handler_finished()  # e.g. the worker itself is being cancelled
                self._done()
                raise
        self._handler_finished()
        if self._cancelled:
            # Our own cancellation has been delivered (or swallowed by the handler):
            # withdraw it so the release below can await.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                task.uncancel()
        if self.abandoned is not None or outcome is None:
            await self._give_up()
            self._done()
            return
        self._kind = outcome.kind
        if outcome.error is not None:
            self._reason = headline(outcome.error)
        self._reporter.submit_nowait(outcome, self.context.deadline, self._answered)

    def _handler_finished(self) -> None:
        self._handling = False
        self._heartbeats.forget(self)
        if self._handler_done is not None:
            # The slot is free once the handler returns: the next claim overlaps with
            # this report instead of waiting a round trip for it.
            self._handler_done(self)

    def _done(self) -> None:
        if self._reported is not None:
            self._reported(self)

    # -- the handler ---------------------------------------------------------------

    async def _invoke(self) -> Outcome:
        if not self._telemetry.tracing:
            return await self._invoke_untraced()
        lease = self.lease
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
            return await self._invoke_untraced(span)

    async def _invoke_untraced(self, span: trace.Span | None = None) -> Outcome:
        telemetry, lease = self._telemetry, self.lease
        telemetry.started.add(1, telemetry.attributes(lease))
        started = time.monotonic()
        status = "error"
        outcome: str | None = None
        try:
            result = await self._call()
            status, outcome = "ok", "complete"
        except Retry as request:
            outcome = "retry"
            return self._outcome("retry", error=request.message, delay=request.delay_seconds)
        except Fatal as fatal:
            outcome = "fail"
            if span is not None:
                span.record_exception(fatal)
                span.set_status(trace.StatusCode.ERROR, fatal.message)
            return self._outcome("fail", error=fatal.message)
        except asyncio.CancelledError:
            outcome = f"abandoned:{self.abandoned}"
            status = "abandoned"
            raise
        except Exception as error:
            outcome = "retry"
            if span is not None:
                span.record_exception(error)
                span.set_status(trace.StatusCode.ERROR, repr(error))
            # One line says the outcome once answered (_answered); the traceback is detail.
            self.context.logger.debug("handler raised", exc_info=error)
            return self._outcome("retry", error=summarize(error))
        finally:
            elapsed = self.ran_seconds = time.monotonic() - started
            telemetry.duration.record(elapsed, telemetry.attributes_with(lease, "status", status))
            if span is not None and outcome is not None:
                span.set_attribute("leaseq.outcome", outcome)
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
        # A sync callable may hand back a coroutine (e.g. a lambda over an async function).
        if handler.timeout is None:
            result = await call
            return await result if result is not None and inspect.isawaitable(result) else result
        async with asyncio.timeout(handler.timeout):
            result = await call
            return await result if result is not None and inspect.isawaitable(result) else result

    def _outcome(
        self, kind: Any, *, result: Any = None, error: str | None = None, delay: float | None = None
    ) -> Outcome:
        return Outcome(self.lease.task_id, self.lease.token, kind, result, error, delay)

    # -- the lease and the outcome -------------------------------------------------

    async def _give_up(self) -> None:
        telemetry = self._telemetry
        telemetry.abandoned.add(
            1, telemetry.attributes_with(self.lease, "reason", self.abandoned or "")
        )
        if self.abandoned != "shutdown":
            return
        try:
            await resends.release(self._transport, self.lease.task_id, self.lease.token)
            self.context.logger.info("released the task at shutdown")
        except errors.LeaseqClientError as error:
            self.context.logger.warning("could not release the task at shutdown: %r", error)

    def _answered(self, answer: Answer) -> None:
        telemetry, lease = self._telemetry, self.lease
        try:
            if isinstance(answer, errors.LeaseqClientError):
                telemetry.refused.add(1, telemetry.attributes_with(lease, "code", answer.code))
                self.context.logger.warning(
                    "the %s result was refused: %s", self._kind, answer.code
                )
                return
            if answer.state == "succeeded":
                telemetry.succeeded.add(1, telemetry.attributes(lease))
                if self._logger.isEnabledFor(logging.INFO):
                    fields = {"outcome": self._kind, "state": answer.state}
                    self.context.logger.info("task succeeded", extra=fields)
                return
            fields = {"outcome": self._kind, "state": answer.state}
            if answer.state == "dead":
                telemetry.dead_lettered.add(1, telemetry.attributes(lease))
                self.context.logger.warning("task dead-lettered: %s", self._reason, extra=fields)
            else:
                telemetry.retried.add(1, telemetry.attributes(lease))
                self.context.logger.warning(
                    "task to be retried (attempt %d of %d used): %s",
                    lease.attempt,
                    lease.max_attempts,
                    self._reason,
                    extra=fields,
                )
        finally:
            self._done()


def headline(error: str) -> str:
    """The line that says what went wrong: a traceback's last line ("ValueError: boom"),
    else the first line of a message."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1].strip() if lines[0].startswith("Traceback") else lines[0].strip()


def summarize(error: BaseException) -> str:
    """The exception and its innermost frames, short enough to store as the task's error."""
    text = "".join(traceback.format_exception(error, limit=-3)).strip()
    return text if len(text) <= MAX_ERROR_CHARS else "…" + text[-MAX_ERROR_CHARS + 1 :]


__all__ = ["Execution", "headline", "summarize"]
