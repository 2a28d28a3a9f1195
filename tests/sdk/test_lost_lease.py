"""DESIGN §5: when a lease is lost the worker cancels the handler and does not report.

The handlers here ignore their cancellation and return a result anyway, as real code
sometimes does (a broad `except`, a blocking call): the worker must still send nothing,
whether the lease was refused by a heartbeat or ran out with no heartbeat answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import pytest

from leaseq.adapters.memory import InMemoryTaskStore
from leaseq.app.services import TaskService
from leaseq.domain.claims import LeaseRequest
from leaseq.sdk import Client, TaskContext, TransportError, Worker
from leaseq.sdk.transport.inprocess import InProcessTransport

RESULT_CALLS = ("report", "complete", "retry", "fail")


class WatchedTransport:
    """Counts every result the worker sends; heartbeats go unanswered when `partitioned`."""

    def __init__(self, inner: Any, *, partitioned: bool) -> None:
        self.inner = inner
        self.partitioned = partitioned
        self.results: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name not in RESULT_CALLS:
            return found

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.results.append(name)
            return await found(*args, **kwargs)

        return counted

    async def heartbeat(self, task_id: Any, token: str, lease_seconds: float) -> Any:
        if self.partitioned:
            raise TransportError("connection reset", request_sent=True)
        return await self.inner.heartbeat(task_id, token, lease_seconds)


@pytest.mark.parametrize("cause", ["heartbeat refused", "heartbeats unanswered"])
async def test_a_handler_that_ignores_its_cancellation_after_a_lost_lease_reports_nothing(
    service: TaskService, store: InMemoryTaskStore, cause: str
) -> None:
    client = Client(InProcessTransport(service))
    transport = WatchedTransport(client.transport, partitioned=cause == "heartbeats unanswered")
    worker = Worker(transport, queue="q", lease_seconds=1.0, wait_seconds=0.5)  # type: ignore[arg-type]
    returned = asyncio.Event()
    contexts: list[TaskContext] = []

    @worker.handler("stubborn")
    async def stubborn(ctx: TaskContext, payload: Any) -> str:
        contexts.append(ctx)
        with contextlib.suppress(asyncio.CancelledError):  # carries on regardless
            await asyncio.sleep(60)
        returned.set()
        return "must not be reported"

    queued = await client.enqueue("q", "stubborn")
    run = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        async with asyncio.timeout(10):
            while not contexts:  # noqa: ASYNC110 - the handler's start is the signal
                await asyncio.sleep(0.01)
        if cause == "heartbeat refused":
            held = await store.get(queued.id)
            assert held.lease is not None
            await store.lease(
                LeaseRequest("q", "thief", 1, timedelta(seconds=60)),
                now=held.lease.expires_at + timedelta(seconds=1),
            )
        await asyncio.wait_for(returned.wait(), 10)
        await asyncio.sleep(0.3)  # time enough for a report to go out, were one sent
    finally:
        worker.stop()
        await asyncio.wait_for(run, 10)
    assert contexts[0].lease_lost.is_set()
    assert transport.results == []
