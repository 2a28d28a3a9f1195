"""The worker: claims tasks it has handlers for and runs them, concurrently, until stopped."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import metrics, trace

from leaseq.sdk import resends
from leaseq.sdk.client import Client
from leaseq.sdk.errors import Forbidden, LeaseqClientError, Unauthorized, ValidationFailed
from leaseq.sdk.execution import Execution
from leaseq.sdk.heartbeats import Heartbeats
from leaseq.sdk.prefetch import HandlerPace
from leaseq.sdk.reachability import Reachability
from leaseq.sdk.registry import HandlerRegistry
from leaseq.sdk.reporter import RECENT, ResultReporter
from leaseq.sdk.retrying import CLAIM_BACKOFF, RetryRule
from leaseq.sdk.shutdown import StopSignals, withdraw
from leaseq.sdk.telemetry import WorkerTelemetry
from leaseq.sdk.transport.base import Transport
from leaseq.sdk.types import LeaseInfo, LeaseRequest

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("leaseq.worker")
WAVE_TURNS = 4
STALE_FRACTION = 0.5  # a prefetched task waiting this part of its lease is given back
MAX_CLAIM = 1000  # the most one lease request may ask for (the service refuses more)


class Worker:
    """Runs handlers for one queue with up to `concurrency` tasks at once.

    It asks only for the (type, version) pairs it has handlers for, as many as it has
    free slots, long-polling `wait_seconds`; after errors (or empty answers when not
    long-polling) it backs off with jitter. `run()` returns after `stop()`, SIGTERM or
    SIGINT: claiming stops at once (a lease request in flight is withdrawn, and what it
    was granted is released unrun), running handlers get `grace_seconds` to finish, the
    rest are cancelled and their leases released so another worker takes them at once.
    A second stop releases the running tasks at once; a third SIGINT is the default one
    (KeyboardInterrupt).

    `prefetch` lets the worker hold up to that many leased tasks beyond `concurrency`,
    waiting for a slot: a freed slot starts the next task at once, and the next lease
    request goes out while handlers still run (it hides a round trip per wave). A waiting
    task holds its lease from the grant and is invisible to other workers, so it is given
    back unrun once it has waited half its lease (and never run with a lease that may
    have run out), and at shutdown. The default, None, is automatic: while the worker's
    recent handlers are short (50 ms at most, and a twentieth of the lease), as many as
    its slots start within that time, at least `concurrency` and at most 4 per slot and
    100 in all; none otherwise. 0 turns it off. See docs/adr/0014-worker-prefetch.md,
    0038-automatic-prefetch.md and 0039-prefetch-by-time.md.

    `results_on_lease` (default on): results that would wait for the report in flight
    ride on the next lease request instead (ADR 0033); with it off, every result goes in
    a report call of its own.
    """

    def __init__(
        self,
        client: Client | Transport,
        *,
        queue: str,
        concurrency: int = 10,
        prefetch: int | None = None,
        lease_seconds: float = 30.0,
        wait_seconds: float = 10.0,
        grace_seconds: float = 30.0,
        worker_id: str | None = None,
        backoff: RetryRule = CLAIM_BACKOFF,
        max_report_batch: int = 100,
        results_on_lease: bool = True,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if prefetch is not None and prefetch < 0:
            raise ValueError("prefetch must not be negative")
        self.transport = client.transport if isinstance(client, Client) else client
        self.queue = queue
        self.concurrency = concurrency
        self.prefetch = prefetch  # None: automatic (HandlerPace)
        self._pace = HandlerPace()
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self.grace_seconds = grace_seconds
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.registry = HandlerRegistry()
        self._backoff = backoff
        self._max_report_batch = max_report_batch
        self.results_on_lease = results_on_lease
        self._telemetry = WorkerTelemetry(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        self._heartbeats = Heartbeats(
            self.transport, lease_seconds=lease_seconds, telemetry=self._telemetry
        )
        self._handling: dict[asyncio.Task[None], Execution] = {}  # handlers running
        self._reporting = 0  # handlers done, their results not yet answered
        # Leased, waiting for a slot (prefetch): (lease, when its request was sent).
        self._buffer: collections.deque[tuple[LeaseInfo, float]] = collections.deque()
        self._buffer_timer: asyncio.TimerHandle | None = None
        self._executor: concurrent.futures.Executor | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping: asyncio.Event | None = None
        self._hurry: asyncio.Event | None = None  # the second stop: no grace left
        self._stops = 0
        self._claimer: asyncio.Task[Any] | None = None  # the task awaiting lease requests
        self._leasing = False  # it awaits one now
        self._withdrawing = False
        self._signals: StopSignals | None = None
        self._reachability = Reachability(logger)
        self._slot_freed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self.reporter: ResultReporter | None = None
        self.claim_sizes: list[int] = []  # observable, for tests and tuning

    # -- registration ----------------------------------------------------------------

    def handler(
        self, type: str, version: int = 1, *, timeout: float | None = None
    ) -> Callable[[F], F]:
        """Register `fn(ctx, payload)` (async, or sync: run in a thread) for (type, version).
        With `timeout`, a run longer than that is cancelled and retried."""

        def register(function: F) -> F:
            self.registry.register(type, version, function, timeout=timeout)
            return function

        return register

    # -- running ---------------------------------------------------------------------

    @property
    def running(self) -> int:
        """Executions alive: handlers running plus results waiting for their answer."""
        return len(self._handling) + self._reporting

    @property
    def buffered(self) -> int:
        """Leased tasks waiting for a slot (at most the prefetch)."""
        return len(self._buffer)

    def stop(self) -> None:
        """Ask `run()` to shut down gracefully; again, to release the running tasks now.
        Safe from any thread or a signal handler."""
        self._stop_requested = True
        loop = self._loop
        if loop is None or self._stopping is None:
            return
        if _in_loop(loop):
            self._stop_once_more()
        else:
            loop.call_soon_threadsafe(self._stop_once_more)

    def _stop_once_more(self) -> None:
        assert self._stopping is not None and self._hurry is not None
        self._stops += 1
        if self._stops == 1:
            self._stopping.set()
            if self._leasing and self._claimer is not None:
                self._withdrawing = True
                self._claimer.cancel()  # the lease request's await: withdrawn
            if not self._handling:
                logger.info("stopping: no more leasing")
                return
            logger.info(
                "stopping: no more leasing; %d running tasks get up to %gs to finish"
                " (stop again to release them now)",
                len(self._handling),
                self.grace_seconds,
            )
        elif not self._hurry.is_set():
            self._hurry.set()
            if self._signals is not None:
                self._signals.remove()  # a third Ctrl-C is a plain KeyboardInterrupt
            logger.warning("stopping now: releasing %d running tasks", len(self._handling))

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        if not len(self.registry):
            raise ValueError("register at least one handler before running the worker")
        self._loop = asyncio.get_running_loop()
        self._claimer = asyncio.current_task()
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self._slot_freed = asyncio.Event()
        if self._stop_requested:
            self._stopping.set()
            self._stops = 1
        executor = self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="leaseq-handler"
        )
        self.reporter = ResultReporter(
            self.transport,
            max_batch=self._max_report_batch,
            logger=logger,
        )
        self.reporter.start()
        self._signals = StopSignals(self._loop, self.stop)
        if install_signal_handlers:
            self._signals.install()
        log_fields = {"queue": self.queue, "worker_id": self.worker_id}
        logger.info("worker started", extra=log_fields)
        try:
            await self._claim_until_stopped()
        finally:
            self._release_buffered()
            await self._drain()
            self._heartbeats.close()
            await asyncio.gather(*self._background, return_exceptions=True)
            await self.reporter.close()
            executor.shutdown(wait=False, cancel_futures=True)
            self._signals.remove()
            logger.info("worker stopped", extra=log_fields)

    def _free(self) -> int:
        """How many tasks the next lease request may ask for."""
        # Slots count running handlers; results still being reported hold none, but at
        # most `concurrency` of them may wait, so the backlog stays bounded. Those the
        # lease request would carry (ADR 0033) do not hold it back: it reports them.
        riders = self.reporter.riders if self.results_on_lease and self.reporter else 0
        backlog = max(0, self._reporting - riders - self.concurrency)
        held = len(self._handling) + len(self._buffer) + backlog
        return min(MAX_CLAIM, self.concurrency + self._prefetch() - held)

    def _prefetch(self) -> int:
        """How many leased tasks may wait for a slot now."""
        if self.prefetch is not None:
            return self.prefetch
        return self._pace.prefetch(self.concurrency, self.lease_seconds)

    async def _claim_until_stopped(self) -> None:
        assert self._stopping is not None and self._slot_freed is not None
        assert self.reporter is not None
        failures = 0
        while not self._stopping.is_set():
            free = self._free()
            if free <= 0:
                self._slot_freed.clear()
                await _first(self._slot_freed.wait(), self._stopping.wait())
                # Handlers of one wave finish together: let the rest of the wave finish
                # (a few loop turns, no timer) so the claim asks for many, not one.
                for _ in range(WAVE_TURNS):
                    await asyncio.sleep(0)
                continue
            sent = time.monotonic()
            try:
                leases = await self._lease_until_stopped(free)
            except (Unauthorized, Forbidden, ValidationFailed):
                raise  # configuration errors: retrying will not help
            except LeaseqClientError as error:
                failures += 1
                pause = self._backoff.pause(min(failures, 16), random.random())
                self._reachability.failed(error, pause)
                await _first(asyncio.sleep(pause), self._stopping.wait())
                continue
            self._reachability.answered()
            if self._stopping.is_set():
                self._release_unstarted(leases)
                return
            failures = 0
            # What fits starts now, however long the request took: each lease is
            # counted from `sent` plus the time the service says the request waited
            # before the claim that granted it (a long poll that waited most of a lease
            # still hands over a whole lease, ADR 0022); the rest waits for a slot (the
            # prefetch), and goes back if it waits too long. Nothing beyond the slots
            # and the prefetch is kept unstarted.
            started = False
            room = self.concurrency + self._prefetch() - len(self._handling) - len(self._buffer)
            for lease in leases:
                granted_at = sent + lease.waited_seconds
                if len(self._handling) < self.concurrency:
                    self._start(lease, granted_at)
                    started = True
                elif room > 0:
                    self._buffer.append((lease, granted_at))
                else:
                    self._give_back(lease, "the worker has no slot for it", "no_slot")
                    continue
                room -= 1
            self._watch_buffer()
            if started:
                # Let the handlers begin before the next lease request is encoded and
                # written: that write wakes the service, which on a busy machine takes
                # the CPU from us (~0.6 ms median, several ms at p99, before a handler
                # that was already leased could start).
                await asyncio.sleep(0)
            if not leases and self.wait_seconds <= 0:
                await _first(
                    asyncio.sleep(self._backoff.pause(3, random.random())), self._stopping.wait()
                )

    async def _lease_until_stopped(self, free: int) -> list[LeaseInfo]:
        """A lease request's grants; on stop, what the withdrawn request was granted.
        The results waiting to be reported go with it (ADR 0033)."""
        assert self._stopping is not None and self.reporter is not None
        riding = self.reporter.take() if self.results_on_lease else []
        self.claim_sizes.append(free)
        if len(self.claim_sizes) > RECENT:  # the recent ones only
            del self.claim_sizes[: RECENT // 2]
        request = LeaseRequest(
            queue=self.queue,
            worker_id=self.worker_id,
            types=self.registry.claimable(),
            max_tasks=free,
            lease_seconds=self.lease_seconds,
            wait_seconds=self.wait_seconds,
            request_id=resends.new_request_id(),
        )
        # Sent again under the same request id while its answer is lost (resends.lease).
        # Awaited inline, no task of its own (the hot path): a stop cancels this await.
        self._leasing = True
        try:
            if not riding:
                return await resends.lease(self.transport, request)
            outcomes = [outcome for outcome, _, _ in riding]
            leases, answers = await resends.lease_and_report(self.transport, request, outcomes)
            self.reporter.deliver(riding, answers, rode=True)
            return leases
        except asyncio.CancelledError:
            self.reporter.hand_back(riding)  # applied or not: a repeat is answered alike
            current = asyncio.current_task()
            if not self._withdrawing or current is None or current.uncancel() > 0:
                raise  # not (only) our stop: someone cancels the worker
        except BaseException:
            self.reporter.hand_back(riding)
            raise
        finally:
            self._leasing = False
        # Stopping: an idle worker's long poll would hold the exit for wait_seconds.
        leases = await withdraw(self.transport, request, logger)
        if leases:
            logger.info("withdrew the lease request in flight; releasing its %d tasks", len(leases))
        else:
            logger.info("withdrew the lease request in flight")
        return leases

    def _start_buffered(self) -> None:
        """Start waiting tasks while slots are free; give back those that waited too long."""
        stopping = self._stopping is not None and self._stopping.is_set()
        buffer = self._buffer
        while buffer and len(self._handling) < self.concurrency and not stopping:
            lease, granted_at = buffer.popleft()
            if time.monotonic() >= granted_at + self.lease_seconds * STALE_FRACTION:
                # Its lease may have run out (or soon will): never run it; give it back.
                self._give_back(lease, "it waited too long for a slot")
                continue
            self._start(lease, granted_at)
        self._watch_buffer()

    def _watch_buffer(self) -> None:
        """Arm one timer for the oldest waiting task to go stale (prefetch only)."""
        if self._buffer_timer is not None:
            if self._buffer:
                # Armed for a task granted no later than any waiting now (the buffer is in
                # grant order: one lease request at a time), so it fires no later than
                # needed, and _release_stale arms the next. Re-arming on every start
                # cost ~3 % of an in-process worker's CPU.
                return
            self._buffer_timer.cancel()
            self._buffer_timer = None
        if self._buffer and self._loop is not None:
            stale_at = self._buffer[0][1] + self.lease_seconds * STALE_FRACTION
            self._buffer_timer = self._loop.call_later(
                max(0.0, stale_at - time.monotonic()), self._release_stale
            )

    def _release_stale(self) -> None:
        """The stale timer. A fire for a task that has started since finds none stale."""
        self._buffer_timer = None
        now, buffer, given_back = time.monotonic(), self._buffer, 0
        while buffer and now >= buffer[0][1] + self.lease_seconds * STALE_FRACTION:
            lease, _ = buffer.popleft()
            self._give_back(lease, "it waited too long for a slot")
            given_back += 1
        self._watch_buffer()
        if given_back and self._slot_freed is not None:
            self._slot_freed.set()  # room to claim again

    def _release_buffered(self) -> None:
        if self._buffer_timer is not None:
            self._buffer_timer.cancel()
            self._buffer_timer = None
        leases = [lease for lease, _ in self._buffer]
        self._buffer.clear()
        self._release_unstarted(leases)

    def _give_back(self, lease: LeaseInfo, why: str, reason: str = "stale_prefetch") -> None:
        logger.warning("giving task %s back unrun: %s", lease.task_id, why)
        telemetry = self._telemetry
        telemetry.abandoned.add(1, telemetry.attributes_with(lease, "reason", reason))
        self._release_unstarted([lease])

    def _start(self, lease: LeaseInfo, granted_at: float) -> None:
        assert self.reporter is not None and self._executor is not None
        handler = self.registry.find(lease.type, lease.type_version)
        if handler is None:  # the service gave us a type we did not ask for
            logger.error("no handler for %s v%s; releasing", lease.type, lease.type_version)
            self._release_unstarted([lease])
            return
        execution = Execution(
            lease,
            handler,
            granted_at=granted_at,
            lease_seconds=self.lease_seconds,
            transport=self.transport,
            reporter=self.reporter,
            heartbeats=self._heartbeats,
            telemetry=self._telemetry,
            executor=self._executor,
            logger=logger,
            handler_done=self._handler_done,
            reported=self._reported,
        )
        task = execution.start()
        self._handling[task] = execution
        task.add_done_callback(self._finished)

    def _release_unstarted(self, leases: list[LeaseInfo]) -> None:
        """Give back tasks granted but not run (at stop, stale in the buffer, unknown)."""
        for lease in leases:
            release = asyncio.create_task(
                resends.release(self.transport, lease.task_id, lease.token)
            )
            self._background.add(release)
            release.add_done_callback(self._released)

    def _released(self, release: asyncio.Task[Any]) -> None:
        self._background.discard(release)
        if not release.cancelled() and release.exception() is not None:
            logger.warning("could not give a task back: %r", release.exception())

    def _handler_done(self, execution: Execution) -> None:
        assert execution.task is not None
        if execution.ran_seconds is not None:  # (stopped runs count: they ran that long)
            self._pace.ran(execution.ran_seconds)
        if self._handling.pop(execution.task, None) is not None:
            self._reporting += 1
        if self._buffer:
            self._start_buffered()  # the freed slot starts a waiting task at once
        if self._slot_freed is not None:
            self._slot_freed.set()

    def _reported(self, execution: Execution) -> None:
        self._reporting -= 1
        if self._slot_freed is not None and self._reporting >= self.concurrency:
            self._slot_freed.set()  # the backlog bound may have held the claim back

    def _finished(self, task: asyncio.Task[None]) -> None:
        # Still counted only if it ended without reaching _handler_done (cancelled).
        if self._handling.pop(task, None) is not None and self._slot_freed is not None:
            self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("task execution crashed", exc_info=task.exception())

    async def _drain(self) -> None:
        assert self._hurry is not None
        running = list(self._handling)
        if not running:
            return
        # Until every handler is done, the grace period ends, or a second stop comes.
        finished = asyncio.ensure_future(asyncio.wait(running))  # (cancelling it cancels none)
        hurry = asyncio.ensure_future(self._hurry.wait())
        await asyncio.wait(
            (finished, hurry), timeout=self.grace_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        finished.cancel()
        hurry.cancel()
        late = [task for task in running if not task.done()]
        for task in late:
            execution = self._handling.get(task)
            if execution is not None:
                execution.abandon("shutdown")
        if late:
            await asyncio.wait(late)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _first(*awaitables: Any) -> None:
    """Wait until the first of these finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


__all__ = ["Worker"]
