"""The SDK's lean HTTP/1.1 client against small real servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from leaseq.sdk.transport.http11 import ConnectFailed, Http11Client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
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


async def test_a_keep_alive_connection_the_server_closed_is_replaced_transparently(serve):
    connections = 0

    async def one_answer_then_close(reader, writer):
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(OK)  # claims keep-alive, then closes: the client finds out on reuse
        await writer.drain()
        writer.close()

    client = Http11Client(await serve(one_answer_then_close), {})
    for _ in range(3):
        answer = await client.request(
            "POST", "/x", content=b"{}", headers=None, params=None, timeout=5
        )
        assert answer.status_code == 200 and answer.content == b"{}"
        await asyncio.sleep(0.05)  # let the close arrive
    assert connections == 3
    await client.aclose()


async def test_sequential_requests_reuse_one_keep_alive_connection(serve):
    connections = 0

    async def answer_forever(reader, writer):
        nonlocal connections
        connections += 1
        while True:
            try:
                await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            writer.write(OK)
            await writer.drain()
        writer.close()

    client = Http11Client(await serve(answer_forever), {})
    for _ in range(5):
        answer = await client.request(
            "POST", "/x", content=b"{}", headers=None, params=None, timeout=5
        )
        assert answer.status_code == 200 and answer.content == b"{}"
    assert connections == 1
    await client.aclose()


async def test_an_answer_with_connection_close_is_not_reused(serve):
    connections = 0

    async def answer_and_close(reader, writer):
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
        await writer.drain()
        writer.close()

    client = Http11Client(await serve(answer_and_close), {})
    for _ in range(2):
        answer = await client.request(
            "GET", "/x", content=None, headers=None, params=None, timeout=5
        )
        assert answer.status_code == 200
    assert connections == 2
    await client.aclose()


async def test_an_413_answered_before_the_body_is_read_reaches_the_caller(serve):
    async def refuse_large(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        body = b'{"type":"payload_too_large","status":413}'
        writer.write(
            b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        # As the service does: the answer goes first, the body is drained so it arrives.
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.close()

    client = Http11Client(await serve(refuse_large), {})
    answer = await client.request(
        "POST", "/v1/tasks", content=b"x" * 8_000_000, headers=None, params=None, timeout=10
    )
    assert answer.status_code == 413 and b"payload_too_large" in answer.content
    await client.aclose()


async def test_a_refused_connection_is_reported_as_never_sent():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connecting is refused
        client = Http11Client(f"http://127.0.0.1:{port}", {})
        with pytest.raises(ConnectFailed):
            await client.request("GET", "/", content=None, headers=None, params=None, timeout=5)
