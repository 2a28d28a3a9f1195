"""SDK fixtures: a queue service over the in-memory store, reached through each transport:
in-process (TaskService called directly) and HTTP (the real app under uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.sdk import Client
from leaseq.sdk.transport.inprocess import InProcessTransport
from tests.sdk.servers import serve_http

TRANSPORTS = ["inprocess", "http"]


@pytest.fixture
def store() -> InMemoryTaskStore:
    return InMemoryTaskStore(notifier=InMemoryNotifier())


@pytest.fixture
async def service(store: InMemoryTaskStore) -> AsyncIterator[TaskService]:
    notifier = store._notifier
    assert notifier is not None
    service = TaskService(store, notifier, RandomJitter(), LongPoll(2.0, fallback_poll=0.2))
    yield service
    await service.close()


@pytest.fixture(params=TRANSPORTS)
async def client(
    request: pytest.FixtureRequest, service: TaskService, store: InMemoryTaskStore
) -> AsyncIterator[Client]:
    if request.param == "inprocess":
        async with Client(InProcessTransport(service)) as client:
            yield client
        return
    async with serve_http(store) as url, Client(url) as client:
        yield client
