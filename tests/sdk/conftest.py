"""SDK fixtures: a queue service over the in-memory store, reached through each transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.sdk import Client
from leaseq.sdk.transport.inprocess import InProcessTransport
from tests.sdk.servers import http_transports

TRANSPORTS = ["inprocess", *http_transports()]


@pytest.fixture
def store() -> InMemoryTaskStore:
    return InMemoryTaskStore(notifier=InMemoryNotifier())


@pytest.fixture
def service(store: InMemoryTaskStore) -> TaskService:
    notifier = store._notifier
    assert notifier is not None
    return TaskService(store, notifier, RandomJitter(), LongPoll(max_wait=2.0, fallback_poll=0.2))


@pytest.fixture(params=TRANSPORTS)
async def client(request: pytest.FixtureRequest, service: TaskService) -> AsyncIterator[Client]:
    if request.param == "inprocess":
        async with Client(InProcessTransport(service)) as client:
            yield client
        return
    from tests.sdk.servers import serve_http

    async with serve_http(service) as url, Client(url) as client:
        yield client
