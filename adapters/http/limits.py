"""Request-body limit as an ASGI middleware: the body is read (or drained) before the
answer, so a client that sent too much RECEIVES its 413 instead of a reset connection."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leaseq.adapters.http.problems import BodyTooLarge, problem_body
from leaseq.adapters.http.responses import ProblemResponse

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
        declared = content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._drain(receive, declared)
            await self._refuse(scope, receive, send, declared)
            return
        body, size = await self._read(receive)
        if size > self.max_body_bytes:
            await self._refuse(scope, receive, send, size)
            return
        await self.app(scope, replay(body, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, int]:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body_bytes:
                chunks.append(chunk)
            elif size > self.max_body_bytes * DRAIN_FACTOR:
                break
            more = message.get("more_body", False)
        return b"".join(chunks), size

    async def _drain(self, receive: Receive, declared: int) -> None:
        if declared > self.max_body_bytes * DRAIN_FACTOR:
            return
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            more = message.get("more_body", False)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        error = BodyTooLarge(
            f"the request body of {size} bytes exceeds the limit of {self.max_body_bytes} bytes",
            limit=self.max_body_bytes,
        )
        response = ProblemResponse(problem_body(error), status_code=413)
        await response(scope, receive, send)


def content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def replay(body: bytes, receive: Receive) -> Receive:
    """`receive` as if `body` (read whole) had not been read yet."""
    return replay_messages([{"type": "http.request", "body": body, "more_body": False}], receive)


def replay_messages(consumed: list[Message], receive: Receive) -> Receive:
    """`receive` as if the messages `consumed` had not been read yet."""
    pending = list(consumed)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
