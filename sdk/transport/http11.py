"""A lean HTTP/1.1 keep-alive client for the SDK's hot calls (plain http:// only).

httpx costs about 1 ms of client CPU per request (a GET of /healthz takes 1.25 ms through
httpx and 0.23 ms over a raw socket on the benchmark machine); a worker makes two calls
per batch of tasks, so that overhead bounded end-to-end throughput. This client writes
the request bytes itself and parses answers with httptools (which uvicorn[standard]
already brings). It keeps a small pool of idle connections; a request that finds its
reused connection closed by the server before any answer byte is sent again once on a
fresh connection (the server never read it).
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from typing import Any

import httptools


class ConnectFailed(Exception):
    """No connection could be opened: the request was never sent."""


class RequestFailed(Exception):
    """The connection failed or timed out after the request may have been sent."""


class Answer:
    """The parts of an HTTP response the transport reads."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(self, status_code: int, reason: str, headers: dict[str, str], body: bytes):
        self.status_code = status_code
        self.reason_phrase = reason
        self.headers = headers
        self.content = body

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _Reader:
    """httptools callbacks collecting one response."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.done = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_headers_complete(self) -> None:
        # Asked here: once the message is complete the parser has reset and says False.
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class Http11Client:
    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        max_connections: int = 100,
        max_idle: int = 20,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("the lean client speaks plain http:// only")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        host_header = parts.netloc.rpartition("@")[2]
        fixed = {"Host": host_header, "Connection": "keep-alive", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._idle: list[_Connection] = []
        self._max_idle = max_idle
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None,
        headers: dict[str, str] | None,
        params: dict[str, Any] | None,
        timeout: float,
    ) -> Answer:
        target = self._prefix + path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        head = f"{method} {target} HTTP/1.1\r\n".encode("latin-1") + self._fixed
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("latin-1")
        body = content or b""
        if content is not None or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(body)}\r\n".encode("latin-1")
        data = head + b"\r\n" + body
        try:
            async with asyncio.timeout(timeout), self._slots:
                return await self._exchange(data)
        except TimeoutError as error:
            raise RequestFailed(f"no answer within {timeout:g}s") from error

    async def _exchange(self, data: bytes) -> Answer:
        while self._idle:
            conn = self._idle.pop()
            if conn.reader.at_eof() or conn.writer.is_closing():
                conn.close()
                continue
            answer = await self._send(conn, data, reused=True)
            if answer is not None:
                return answer
        conn = await self._open()
        answer = await self._send(conn, data, reused=False)
        assert answer is not None
        return answer

    async def _open(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        except OSError as error:
            raise ConnectFailed(repr(error)) from error
        return _Connection(reader, writer)

    async def _send(self, conn: _Connection, data: bytes, *, reused: bool) -> Answer | None:
        """The answer; None when a reused connection turned out closed before answering."""
        collected = _Reader()
        parser = httptools.HttpResponseParser(collected)
        collected.parser = parser
        received = False
        try:
            try:
                conn.writer.write(data)
                await conn.writer.drain()
            except OSError:
                # The server may answer early and close (a 413 for a body too large):
                # read what it sent before giving up.
                if conn.reader.at_eof() and not conn.reader._buffer:  # type: ignore[attr-defined]
                    raise
            while not collected.done:
                chunk = await conn.reader.read(65536)
                if not chunk:
                    raise ConnectionResetError("the server closed the connection")
                received = True
                parser.feed_data(chunk)
        except (OSError, httptools.HttpParserError) as error:
            conn.close()
            if reused and not received and isinstance(error, OSError):
                return None  # stale keep-alive connection: the server never read the request
            raise RequestFailed(repr(error)) from error
        except BaseException:
            conn.close()  # cancelled or timed out mid-answer: the stream is unusable
            raise
        status = parser.get_status_code()
        if collected.keep_alive and not self._closed and len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()
        reason = _REASONS.get(status, "")
        return Answer(status, reason, collected.headers, b"".join(collected.body))

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()


_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
