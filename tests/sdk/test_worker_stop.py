"""How a worker stops: at once when idle, its grants in flight released, a second stop
releasing the running tasks; and what its log says along the way."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.app.services import TaskService
from leaseq.sdk import Client, Fatal, Retry, TaskContext, TransportError, Worker
from leaseq.sdk.transport.inprocess import InProcessTransport
from leaseq.sdk.types import LeaseRequest
from tests.sdk.test_worker import running


async def _until_waiting(service: TaskService) -> None:
    async with asyncio.timeout(5):
        while service.waiting == 0:  # noqa: ASYNC110 - the service exposes a count, no event
            await asyncio.sleep(0.005)


async def test_an_idle_worker_stops_at_once_not_after_its_long_poll(
    service: TaskService,
) -> None:
    worker = Worker(InProcessTransport(service), queue="q", wait_seconds=30)

    @worker.handler("t")
    async def handle(ctx: TaskContext, payload: Any) -> None: ...

    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    await _until_waiting(service)
    started = time.monotonic()
    worker.stop()
    await asyncio.wait_for(run, 5)
    assert time.monotonic() - started < 1.0  # not the 30 s the long poll would wait


class AnswerLostInFlight:
    """Grants the first lease request, then holds its answer (it is on the wire)."""

    def __init__(self, inner: InProcessTransport) -> None:
        self.inner = inner
        self.held = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def lease(self, request: LeaseRequest) -> Any:
        leases = await self.inner.lease(request)
        if not request.repeat and leases:
            self.held.set()
            await asyncio.sleep(3600)
        return leases


async def test_grants_whose_answer_was_in_flight_at_stop_are_released_not_left_to_expire(
    service: TaskService,
) -> None:
    client = Client(InProcessTransport(service))
    queued = await client.enqueue("q", "t", "granted as the worker stops")
    transport = AnswerLostInFlight(InProcessTransport(service))
    worker = Worker(transport, queue="q", wait_seconds=30, lease_seconds=60)  # type: ignore[arg-type]
    ran: list[Any] = []

    @worker.handler("t")
    async def handle(ctx: TaskContext, payload: Any) -> None:
        ran.append(payload)

    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    await asyncio.wait_for(transport.held.wait(), 5)
    worker.stop()
    await asyncio.wait_for(run, 5)
    task = await client.get(queued.id)
    assert (task.state, task.attempts, task.lease, ran) == ("pending", 0, None, [])


async def test_a_second_stop_releases_the_running_tasks_at_once(
    service: TaskService, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(InProcessTransport(service))
    queued = await client.enqueue("q", "slow", 60)
    worker = Worker(client, queue="q", wait_seconds=0.5, grace_seconds=30)
    started = asyncio.Event()

    @worker.handler("slow")
    async def slow(ctx: TaskContext, seconds: float) -> None:
        started.set()
        await asyncio.sleep(seconds)

    caplog.set_level(logging.INFO, "leaseq.worker")
    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await asyncio.sleep(0.2)
    assert not run.done()  # the first stop grants the grace period
    stopped_at = time.monotonic()
    worker.stop()
    await asyncio.wait_for(run, 5)
    assert time.monotonic() - stopped_at < 2.0
    task = await client.get(queued.id)
    assert (task.state, task.attempts) == ("pending", 0)  # released, the attempt given back
    messages = [record.getMessage() for record in caplog.records]
    assert any("stop again to release them now" in m for m in messages), messages
    assert any(m == "stopping now: releasing 1 running tasks" for m in messages), messages


async def test_the_log_names_the_reason_of_every_retry_and_dead_letter(
    service: TaskService, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(InProcessTransport(service))
    worker = Worker(client, queue="q", wait_seconds=0.2)

    @worker.handler("fail")
    async def fail(ctx: TaskContext, how: str) -> None:
        if how == "retry":
            raise Retry("the mail server is busy", delay=60)
        if how == "fatal":
            raise Fatal("no such address")
        raise ValueError("boom")

    caplog.set_level(logging.INFO, "leaseq.worker")
    ids = [
        (await client.enqueue("q", "fail", how, max_attempts=attempts)).id
        for how, attempts in (("retry", 5), ("fatal", 5), ("boom", 5), ("boom", 1))
    ]
    async with running(worker):
        async with asyncio.timeout(5):
            while len([r for r in caplog.records if r.getMessage().startswith("task ")]) < 4:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    lines = {str(r.task_id): r.getMessage() for r in caplog.records if hasattr(r, "task_id")}
    retried = "task to be retried (attempt 1 of 5 used)"
    assert lines[str(ids[0])] == f"{retried}: the mail server is busy"
    assert lines[str(ids[1])] == "task dead-lettered: no such address"
    assert lines[str(ids[2])] == f"{retried}: ValueError: boom"
    assert lines[str(ids[3])] == "task dead-lettered: ValueError: boom"


class Outage:
    """Lease requests fail as unreachable `failures` times, then reach the service."""

    def __init__(self, inner: InProcessTransport, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def lease(self, request: LeaseRequest) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise TransportError(
                "cannot connect to 127.0.0.1:8000: connection refused", request_sent=False
            )
        return await self.inner.lease(request)


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    service: TaskService, store: InMemoryTaskStore, caplog: pytest.LogCaptureFixture
) -> None:
    from leaseq.sdk.retrying import RetryRule

    transport = Outage(InProcessTransport(service), failures=12)
    worker = Worker(
        transport,  # type: ignore[arg-type]
        queue="q",
        wait_seconds=0.2,
        backoff=RetryRule(attempts=100, base_seconds=0.001, max_seconds=0.005),
    )

    @worker.handler("t")
    async def handle(ctx: TaskContext, payload: Any) -> None: ...

    caplog.set_level(logging.INFO, "leaseq.worker")
    async with running(worker):
        async with asyncio.timeout(5):
            while transport.failures:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
    messages = [r.getMessage() for r in caplog.records]
    down = [m for m in messages if m.startswith("service unreachable")]
    back = [m for m in messages if m.startswith("service reachable again")]
    assert down == [
        "service unreachable (cannot connect to 127.0.0.1:8000: connection refused);"
        " retrying until it answers"
    ]
    assert len(back) == 1, messages


def test_a_signal_sent_twice_at_once_is_one_stop_and_a_later_one_a_second() -> None:
    import signal as signals

    from leaseq.sdk.shutdown import SAME_STOP_SECONDS, StopSignals

    stops: list[float] = []
    loop = asyncio.new_event_loop()
    try:
        handlers = StopSignals(loop, lambda: stops.append(time.monotonic()))
        handlers._received(signals.SIGTERM)
        handlers._received(signals.SIGTERM)  # `timeout` signals the process, then its group
        assert len(stops) == 1
        time.sleep(SAME_STOP_SECONDS)
        handlers._received(signals.SIGTERM)
        assert len(stops) == 2
    finally:
        loop.close()


async def test_cancelling_the_worker_during_a_lease_request_is_not_taken_for_a_stop(
    service: TaskService,
) -> None:
    worker = Worker(InProcessTransport(service), queue="q", wait_seconds=30)

    @worker.handler("t")
    async def handle(ctx: TaskContext, payload: Any) -> None: ...

    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    await _until_waiting(service)
    worker.stop()  # the worker cancels its own lease request's await ...
    run.cancel()  # ... and its owner cancels it too, in the same turn
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 5)
