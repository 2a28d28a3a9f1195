"""The hot routes (the worker's, and the producer's enqueue) served in front of the
framework's middleware and router.

A worker's lease, results and heartbeat requests are most of the service's traffic. Served
through the whole stack (Starlette's error, exception and exit-stack layers, our body-limit
and metrics middleware, FastAPI's router matching every route, then the route's own
wrappers), about two thirds of a request's CPU went to the framework, not to the call
(ADR 0013). `FastPath` answers a well-formed hot request itself, with the same parts the
stack would use: the body limit, the lean handler's model and scope check, the app's own
exception handlers for errors, and the request metrics. Everything else — another route or
method, a root path, a body too large or not well-formed, tracing switched on — goes
through the full stack untouched, with the body replayed. Middleware added to the app does
not see the requests answered here: add what it does to `FastPath.serve` too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from leaseq.adapters.http.lean_route import LeanSpec, validated
from leaseq.adapters.http.limits import content_length, replay_messages
from leaseq.adapters.http.metrics import ServiceMetrics

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class FastRoutes:
    """Which hot routes exist: exact paths, and `/v1/tasks/{id}/<action>` paths."""

    def __init__(self, exact: Mapping[str, LeanSpec], task_actions: Mapping[str, LeanSpec]) -> None:
        self.exact = dict(exact)
        self.task_actions = dict(task_actions)

    def plus(self, other: FastRoutes) -> FastRoutes:
        return FastRoutes(
            {**self.exact, **other.exact}, {**self.task_actions, **other.task_actions}
        )

    def find(self, path: str) -> tuple[str, LeanSpec, dict[str, Any]] | None:
        """(route template, spec, path parameters) of a hot path, or None."""
        spec = self.exact.get(path)
        if spec is not None:
            return path, spec, {}
        parts = path.split("/")  # "", "v1", "tasks", id, action
        if len(parts) == 5 and parts[1] == "v1" and parts[2] == "tasks" and parts[3]:
            spec = self.task_actions.get(parts[4])
            if spec is not None:
                return f"/v1/tasks/{{id}}/{parts[4]}", spec, {"id": parts[3]}
        return None


class FastPath:
    """Serves `FastRoutes`; `served` counts the requests it answered itself."""

    def __init__(
        self,
        routes: FastRoutes,
        *,
        max_body_bytes: int,
        metrics: ServiceMetrics,
        error_handler: Callable[[Exception], ErrorHandler],
    ) -> None:
        self._routes = routes
        self._max_body_bytes = max_body_bytes
        self._metrics = metrics
        self._error_handler = error_handler
        self.served = 0

    async def serve(
        self, app: Any, scope: Scope, receive: Receive, send: Send, full: ASGIApp
    ) -> None:
        """Answer `scope` on the fast path when it qualifies, else through `full`."""
        found = None
        if scope["method"] == "POST" and not scope.get("root_path"):
            found = self._routes.find(scope["path"])
        if found is None:
            await full(scope, receive, send)
            return
        started = time.perf_counter()
        declared = content_length(scope)
        if declared is not None and declared > self._max_body_bytes:
            await full(scope, receive, send)  # the body-limit middleware answers 413
            return
        consumed, raw = await _read(receive, self._max_body_bytes)
        replay = replay_messages(consumed, receive)
        route, spec, params = found
        content_type = _header(scope, b"content-type")
        body = None if raw is None else validated(spec.model, content_type, raw, spec.read)
        if body is None:
            await full(scope, replay, send)
            return
        scope["app"] = app
        scope["path_params"] = params
        request = Request(scope, replay)
        try:
            await spec.check(request)
            state = app.state
            response = await spec.endpoint(body, state.runtime.service, state.options, params)
        except Exception as error:
            response = await self._error_handler(error)(request, error)
        await response(scope, replay, send)
        self.served += 1
        self._metrics.requests.labels(route, "POST", str(response.status_code)).inc()
        self._metrics.latency.labels(route, "POST").observe(time.perf_counter() - started)


async def _read(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The messages read, and the whole body; None when it is over `limit` or the client
    went away (the full stack then sees every message again and answers as it would)."""
    consumed: list[Message] = []
    size = 0
    while True:
        message = await receive()
        consumed.append(message)
        if message["type"] != "http.request":
            return consumed, None
        size += len(message.get("body", b""))
        if size > limit:
            return consumed, None
        if not message.get("more_body", False):
            chunks = [m.get("body", b"") for m in consumed]
            return consumed, chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


__all__ = ["FastPath", "FastRoutes"]
