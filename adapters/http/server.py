"""How `leaseq serve` runs the app: uvicorn (uvloop, httptools) with read deadlines.

uvicorn times out only the idle time between requests (`timeout_keep_alive`, armed after
an answer); nothing bounds how long a client may take to send a request's headers or its
body, before the first request or within a later one (uvicorn issue #157). So hundreds of
connections that send nothing, or a byte now and then, would be held open for ever.
`DeadlineProtocol` is uvicorn's own httptools protocol with two deadlines added (ADR 0018):
the headers must arrive within `header_timeout` seconds of the connection opening (or of
the first byte of a later request), the body within `body_timeout` seconds of the headers.
A request past its deadline is answered 408 (problem+json) when no answer has started,
and the connection is closed. Bytes the HTTP parser refuses (a control character in a
header, say) get uvicorn's 400 as problem+json too, not its plain-text line.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from leaseq.adapters.http.problems import MalformedRequest, RequestTimeout, problem_body


def deadline_protocol(header_timeout: float, body_timeout: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, closing connections whose request is too slow."""

    class DeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(header_timeout, "headers")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._deadline is None:  # a later request on a kept-alive connection
                self._arm(header_timeout, "headers")

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            self._arm(body_timeout, "body")

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            # uvicorn's hook for what httptools cannot parse; its own answer is text/plain
            self._disarm()
            self.transport.write(_malformed_answer())
            self.transport.close()

        def _arm(self, seconds: float, part: str) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expired, seconds, part)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self, seconds: float, part: str) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            # While headers arrive, self.cycle is the previous request's (if any)
            if part == "headers" or not self.cycle.response_started:
                self.transport.write(_timeout_answer(part, seconds))
            self.transport.close()

    return DeadlineProtocol


def _timeout_answer(part: str, seconds: float) -> bytes:
    error = RequestTimeout(
        f"the request's {part} did not arrive within {seconds:g} seconds", timeout=seconds
    )
    return _closing_answer(b"408 Request Timeout", error)


def _malformed_answer() -> bytes:
    error = MalformedRequest(
        "the request is not valid HTTP/1.1 (its request line or a header could not be"
        " parsed: a control character in a header value, say)"
    )
    return _closing_answer(b"400 Bad Request", error)


def _closing_answer(status_line: bytes, error: Exception) -> bytes:
    """A problem+json answer written by the protocol itself, before the connection closes."""
    body = orjson.dumps(problem_body(error))
    head = (
        b"HTTP/1.1 " + status_line + b"\r\n"
        b"content-type: application/problem+json\r\n"
        b"connection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


def server_config(
    app: Any,
    *,
    host: str,
    port: int,
    header_timeout: float,
    body_timeout: float,
    keep_alive_timeout: int = 5,
    access_log: bool = True,
    log_level: str = "info",
) -> uvicorn.Config:
    """The uvicorn configuration `leaseq serve` runs (tests run the same)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # uvicorn's loggers go through our root handler (one format)
        access_log=access_log,
        loop=_fastest("uvloop", "auto"),
        http=deadline_protocol(header_timeout, body_timeout),
        timeout_keep_alive=keep_alive_timeout,
    )


def _fastest(module: str, fallback: str) -> str:
    """uvloop when installed (uvicorn[standard] brings it)."""
    try:
        __import__(module)
    except ImportError:
        return fallback
    return module
