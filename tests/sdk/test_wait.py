"""`Client.wait`: the task once it is final, through every transport; woken, not polled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from leaseq.sdk import Client, SyncClient, TaskNotFound
from leaseq.sdk.transport.inprocess import InProcessTransport

MISSING = "01900000-0000-7000-8000-000000000000"


async def test_wait_answers_the_task_once_a_worker_completes_it(client: Client) -> None:
    task = await client.enqueue("emails", "send", {"to": "a@b.c"})
    waiting = asyncio.create_task(client.wait(task.id, timeout=30))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    lease = await client.transport.lease(_request())
    await client.transport.complete(lease[0].task_id, lease[0].token, {"sent": True})
    async with asyncio.timeout(10):
        done = await waiting
    assert (done.id, done.state, done.result) == (task.id, "succeeded", {"sent": True})


async def test_wait_answers_a_cancelled_task_at_once(client: Client) -> None:
    task = await client.enqueue("emails", "send", {})
    await client.cancel(task.id)
    async with asyncio.timeout(10):
        assert (await client.wait(task.id)).state == "cancelled"


async def test_wait_raises_timeout_error_when_the_task_stays_unfinished(client: Client) -> None:
    task = await client.enqueue("emails", "send", {})
    with pytest.raises(TimeoutError):
        await client.wait(task.id, timeout=0.3)


async def test_wait_on_an_unknown_task_raises_task_not_found(client: Client) -> None:
    with pytest.raises(TaskNotFound):
        await client.wait(MISSING, timeout=5)


def _request():  # type: ignore[no-untyped-def]
    from leaseq.sdk.types import LeaseRequest

    return LeaseRequest(queue="emails", worker_id="w", max_tasks=1, lease_seconds=30)


def test_the_sync_client_waits_too(service: Any) -> None:
    with SyncClient(InProcessTransport(service)) as client:
        queued = client.enqueue("q", "t")
        client.cancel(queued.id)
        assert client.wait(queued.id, timeout=5).state == "cancelled"
        pending = client.enqueue("q", "t")
        with pytest.raises(TimeoutError):
            client.wait(pending.id, timeout=0.2)
