"""The HTTP transport (aiohttp) against small real servers that misbehave on purpose:
what counts as sent, what is never sent twice, what reaches the caller."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from leaseq.sdk import Client
from leaseq.sdk.errors import InvalidHeaderValue, PayloadTooLarge, TransportError
from leaseq.sdk.transport.http import HttpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = (
    b'HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: application/json\r\n\r\n{"queues": []}'
)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    "token", ["abc\r\nX-Injected: 1", "abc\ndef", "abc\rdef", "abc\x00def"], ids=repr
)
def test_a_token_with_cr_lf_or_nul_is_refused_before_anything_is_sent(token: str) -> None:
    with pytest.raises(InvalidHeaderValue) as refusal:
        Client("http://127.0.0.1:9", token=token)
    assert refusal.value.header == "Authorization" and token not in str(refusal.value)
    assert isinstance(refusal.value, ValueError)


def test_an_extra_header_with_a_line_break_is_refused_naming_it() -> None:
    with pytest.raises(InvalidHeaderValue) as refusal:
        HttpTransport("http://127.0.0.1:9", headers={"X-Trace": "a\r\nb"})
    assert refusal.value.header == "X-Trace"


async def test_a_post_whose_answer_never_comes_is_sent_once_and_reported_as_sent(serve) -> None:
    requests = 0

    async def read_then_hang_up(reader, writer):
        nonlocal requests
        await read_request(reader)
        requests += 1
        writer.close()  # the request was read: its answer is lost

    transport = HttpTransport(await serve(read_then_hang_up))
    with pytest.raises(TransportError) as failure:
        await transport.cancel(uuid.uuid4())
    await transport.aclose()
    assert failure.value.request_sent is True
    assert requests == 1  # never sent a second time by the transport itself


async def test_a_keep_alive_connection_closed_between_posts_never_sends_a_post_twice(
    serve,
) -> None:
    requests = 0

    async def one_answer_then_close(reader, writer):
        nonlocal requests
        await read_request(reader)
        requests += 1
        writer.write(OK)  # claims keep-alive, then closes
        await writer.drain()
        writer.close()

    transport = HttpTransport(await serve(one_answer_then_close))
    outcomes = []
    for _ in range(3):
        try:
            await transport.stats()
            outcomes.append("answered")
        except TransportError as error:
            outcomes.append(f"sent={error.request_sent}")
        await asyncio.sleep(0.05)
    await transport.aclose()
    assert requests == outcomes.count("answered") + outcomes.count("sent=True")


async def test_an_answer_cut_off_mid_body_is_a_transport_error_marked_sent(serve) -> None:
    async def half_an_answer(reader, writer):
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"queues": [')
        await writer.drain()
        writer.transport.abort()

    transport = HttpTransport(await serve(half_an_answer))
    with pytest.raises(TransportError) as failure:
        await transport.stats()
    await transport.aclose()
    assert failure.value.request_sent is True


async def test_an_413_answered_before_the_body_is_read_reaches_the_caller(serve) -> None:
    async def refuse_large(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        body = b'{"type":"payload_too_large","status":413,"title":"Payload too large"}'
        writer.write(
            b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n".encode()
            + b"Content-Type: application/problem+json\r\n\r\n"
            + body
        )
        await writer.drain()
        # As the service does: the answer goes first, the body is drained so it arrives.
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.close()

    async with Client(await serve(refuse_large)) as client:
        with pytest.raises(PayloadTooLarge):
            await client.enqueue("q", "t", "x" * 8_000_000)


async def test_a_refused_connection_is_reported_as_never_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connecting is refused
        transport = HttpTransport(f"http://127.0.0.1:{port}")
        with pytest.raises(TransportError) as failure:
            await transport.stats()
        await transport.aclose()
    assert failure.value.request_sent is False


def test_a_service_url_must_be_http_or_https_with_a_host() -> None:
    for bad in ("ftp://x", "127.0.0.1:8000", "http://", "http://h/?q=1"):
        with pytest.raises(ValueError):
            HttpTransport(bad)
