"""An HTTP client given several replica URLs moves on from one that does not answer."""

from __future__ import annotations

import httpx
import pytest

from leaseq.sdk import Client
from leaseq.sdk.errors import TransportError
from leaseq.sdk.transport.http import HttpTransport
from tests.concurrency.processes import free_port


async def test_a_transport_moves_to_the_next_url_after_a_refused_connection() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.port != 9:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"queues": []})

    transport = HttpTransport([dead, "http://127.0.0.1:9"])
    transport._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    with pytest.raises(TransportError) as failure:
        await transport.stats()
    assert failure.value.request_sent is False
    assert await transport.stats() == []
    assert seen == [f"{dead}/v1/queues", "http://127.0.0.1:9/v1/queues"]
    await transport.aclose()


async def test_a_client_whose_replicas_are_all_down_raises_a_transport_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with Client([dead, dead]) as client:
        with pytest.raises(TransportError):
            await client.stats()
