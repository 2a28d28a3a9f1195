"""Fixtures for the examples: an embedded queue (in-process transport, memory store)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.sdk import Client, Worker
from leaseq.sdk.transport.inprocess import InProcessTransport


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    notifier = InMemoryNotifier()
    store = InMemoryTaskStore(notifier=notifier)
    service = TaskService(store, notifier, RandomJitter(), LongPoll(2.0, fallback_poll=0.2))
    async with Client(InProcessTransport(service)) as client:
        yield client
    await service.close()


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[None]:
    task = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        yield
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
