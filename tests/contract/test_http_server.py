"""The server `leaseq serve` runs, over real sockets: read deadlines, and long polls whose
client went away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from leaseq.app.container import build_container
from tests.contract.http_fixtures import ADMIN, settings_for
from tests.contract.served import served

pytestmark = pytest.mark.timeout(120)

HEADER_TIMEOUT, BODY_TIMEOUT = 2.0, 2.0


@contextlib.asynccontextmanager
async def slow_server() -> AsyncIterator[tuple[str, int]]:
    container = build_container(settings_for("memory", None))
    async with served(container, header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT) as (
        _,
        url,
        _server,
    ):
        yield url, int(url.rsplit(":", 1)[1])


async def open_connection(
    port: int, first: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


async def closed_with(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sent before it closed the connection (within `within` s)."""
    return await asyncio.wait_for(reader.read(), within)


HEAD = b"POST /v1/leases HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"


async def test_hundreds_of_slow_connections_neither_block_a_request_nor_outlive_the_deadlines():
    async with slow_server() as (url, port):
        idle = [await open_connection(port, b"") for _ in range(100)]
        half_head = [await open_connection(port, HEAD[:40]) for _ in range(100)]
        body = b"content-length: 100\r\nauthorization: Bearer admin-secret\r\n\r\n{"
        half_body = [await open_connection(port, HEAD + body) for _ in range(100)]
        async with httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=HEADER_TIMEOUT) as http:
            answer = await http.post("/v1/leases", json={"queue": "q", "worker_id": "w"})
        assert answer.status_code == 200 and answer.json()["leases"] == []
        for reader, _ in idle + half_head:
            sent = await closed_with(reader, HEADER_TIMEOUT + 5)
            assert sent.startswith(b"HTTP/1.1 408 ") and b"request_timeout" in sent
        for reader, _ in half_body:
            sent = await closed_with(reader, BODY_TIMEOUT + 5)
            assert sent.startswith(b"HTTP/1.1 408 "), sent[:200]
            problem = orjson.loads(sent.split(b"\r\n\r\n", 1)[1])
            assert problem["type"] == "request_timeout" and "body" in problem["detail"]
        for _, writer in idle + half_head + half_body:
            writer.close()


async def test_a_kept_alive_connection_s_next_request_has_the_same_header_deadline():
    async with slow_server() as (_, port):
        reader, writer = await open_connection(
            port, b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
        )
        first = await reader.readuntil(b'{"status":"ok"}')
        assert first.startswith(b"HTTP/1.1 200")
        writer.write(b"GET /hea")  # the next request starts, and stalls
        await writer.drain()
        sent = await closed_with(reader, HEADER_TIMEOUT + 5)
        assert sent.startswith(b"HTTP/1.1 408 ")
        writer.close()


async def test_a_long_poll_whose_client_went_away_is_granted_no_lease():
    container = build_container(settings_for("memory", None))
    async with (
        served(container) as (app, url, _),
        httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=10) as http,
    ):
        body = orjson.dumps({"queue": "q", "worker_id": "gone", "wait_seconds": 15})
        _, writer = await open_connection(
            int(url.rsplit(":", 1)[1]),
            HEAD
            + b"authorization: Bearer admin-secret\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body,
        )
        service = app.state.runtime.service
        for _ in range(500):  # until the long poll waits (another process's event: polled)
            if service.waiting:
                break
            await asyncio.sleep(0.01)
        assert service.waiting == 1
        writer.close()
        for _ in range(100):  # the service sees the client go (http.disconnect)
            if not service.waiting:
                break
            await asyncio.sleep(0.01)
        created = await http.post("/v1/tasks", json={"tasks": [{"queue": "q", "type": "t"}]})
        task_id = created.json()["tasks"][0]["id"]
        task = (await http.get(f"/v1/tasks/{task_id}")).json()
        assert (task["state"], task["epoch"]) == ("pending", 0)
        (lease,) = (await http.post("/v1/leases", json={"queue": "q", "worker_id": "w"})).json()[
            "leases"
        ]
        assert (lease["task_id"], lease["epoch"], lease["attempt"]) == (task_id, 1, 1)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-label: a\x01b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer a\x00b\r\n\r\n",
        b"GET /health z HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
    ],
    ids=["control-character", "nul-in-token", "broken-request-line"],
)
async def test_bytes_that_are_not_http_get_a_problem_and_a_closed_connection(request_bytes):
    async with slow_server() as (_, port):
        reader, writer = await open_connection(port, request_bytes)
        sent = await closed_with(reader, 5)
        writer.close()
    head, body = sent.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 ") and b"application/problem+json" in head, head
    problem = orjson.loads(body)
    assert problem["type"] == "malformed_request" and problem["status"] == 400
