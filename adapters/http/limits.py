"""The request-body size limit, enforced on the receive channel: nothing is read before the
route asks for the body (after its token was checked), and a body over the limit is
drained (up to a bound) before the 413, so the client RECEIVES it instead of a reset."""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leaseq.adapters.http.problems import BodyTooLarge

# Past this many bytes we stop draining and let the connection close.
DRAIN_FACTOR = 16


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, limited(scope, receive, self.max_body_bytes), send)


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes:
    """The whole request body, or `BodyTooLarge` past `max_bytes` (drained first, as
    above), or Starlette's `ClientDisconnect` when the client goes before it arrives."""
    declared = content_length(scope)
    if declared is not None and declared > max_bytes:
        if declared <= max_bytes * DRAIN_FACTOR:
            await _drain(receive)
        raise _too_large(declared, max_bytes)
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False) and len(body) <= max_bytes:
        return body  # the usual case: one message
    chunks, size = [body], len(body)
    while message.get("more_body", False) and size <= max_bytes:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
    if size > max_bytes:
        if message.get("more_body", False):
            await _drain(receive, max_bytes * DRAIN_FACTOR - size)
        raise _too_large(size, max_bytes)
    return b"".join(chunks)


def limited(scope: Scope, receive: Receive, max_bytes: int) -> Receive:
    """`receive`, raising `BodyTooLarge` once the body (declared or read) passes `max_bytes`."""
    declared = content_length(scope)
    size = 0

    async def guarded() -> Message:
        nonlocal size
        if declared is not None and declared > max_bytes:
            if declared <= max_bytes * DRAIN_FACTOR:
                await _drain(receive)
            raise _too_large(declared, max_bytes)
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > max_bytes:
                if message.get("more_body", False):
                    await _drain(receive, max_bytes * DRAIN_FACTOR - size)
                raise _too_large(size, max_bytes)
        return message

    return guarded


async def _drain(receive: Receive, budget: float = float("inf")) -> None:
    more = True
    while more and budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        more = message.get("more_body", False)


def _too_large(size: int, limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"the request body of {size} bytes exceeds the limit of {limit} bytes", limit=limit
    )


def content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
