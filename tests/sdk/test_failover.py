"""An HTTP client given several replica URLs moves on from one that does not answer."""

from __future__ import annotations

import pytest

from leaseq.sdk import Client
from leaseq.sdk.errors import TransportError
from leaseq.sdk.transport.http import HttpTransport
from tests.concurrency.processes import free_port
from tests.sdk.scripted_server import scripted_server


async def test_a_transport_moves_to_the_next_url_after_a_refused_connection() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with scripted_server([(200, {"queues": []})]) as (live, server):
        transport = HttpTransport([dead, live])
        with pytest.raises(TransportError) as failure:
            await transport.stats()
        assert failure.value.request_sent is False
        assert await transport.stats() == []
        assert await transport.stats() == []  # it stays on the replica that answers
        await transport.aclose()
    assert [(method, path) for method, path, _, _ in server.requests] == [("GET", "/v1/queues")] * 2


async def test_a_client_whose_replicas_are_all_down_raises_a_transport_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with Client([dead, dead]) as client:
        with pytest.raises(TransportError):
            await client.stats()
