"""The hot routes (the worker's, and the producer's enqueue) served in front of the
framework's middleware and router.

A worker's lease, results and heartbeat requests are most of the service's traffic. Served
through the whole stack (Starlette's error, exception and exit-stack layers, our body-limit
and metrics middleware, FastAPI's router matching every route), most of a request's CPU
went to the framework, not to the call (ADR 0013). `FastPath` answers a hot route's
request with the very `BodyRoute.answer` that FastAPI's route calls (body_routes.py): the
same token check, body limit, schema and endpoint, the app's own exception handlers for
errors, and the request metrics. Everything else — another route or method, a root path,
tracing switched on — goes through the full stack. Middleware added to the app does not
see the requests answered here: add what it does to `FastPath.serve` too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from leaseq.adapters.http.body_routes import BodyRoute
from leaseq.adapters.http.metrics import ServiceMetrics

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class FastRoutes:
    """Which hot routes exist: exact paths, and `/v1/tasks/{id}/<action>` paths."""

    def __init__(
        self, exact: Mapping[str, BodyRoute], task_actions: Mapping[str, BodyRoute]
    ) -> None:
        self.exact = dict(exact)
        self.task_actions = dict(task_actions)

    def plus(self, other: FastRoutes) -> FastRoutes:
        return FastRoutes(
            {**self.exact, **other.exact}, {**self.task_actions, **other.task_actions}
        )

    def find(self, path: str) -> tuple[str, BodyRoute, dict[str, Any]] | None:
        """(route template, route, path parameters) of a hot path, or None."""
        route = self.exact.get(path)
        if route is not None:
            return path, route, {}
        parts = path.split("/")  # "", "v1", "tasks", id, action
        if len(parts) == 5 and parts[1] == "v1" and parts[2] == "tasks" and parts[3]:
            route = self.task_actions.get(parts[4])
            if route is not None:
                return f"/v1/tasks/{{id}}/{parts[4]}", route, {"id": parts[3]}
        return None


class FastPath:
    """Serves `FastRoutes`; `served` counts the requests it answered itself."""

    def __init__(
        self,
        routes: FastRoutes,
        *,
        metrics: ServiceMetrics,
        error_handler: Callable[[Exception], ErrorHandler],
    ) -> None:
        self._routes = routes
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
        template, route, params = found
        scope["app"] = app
        scope["path_params"] = params
        request = Request(scope, receive)  # the route reads the body within the limit
        try:
            response = await route.answer(request)
        except Exception as error:
            response = await self._error_handler(error)(request, error)
        await response(scope, receive, send)
        self.served += 1
        status = str(response.status_code)
        self._metrics.requests.labels(template, "POST", status).inc()
        self._metrics.latency.labels(template, "POST").observe(time.perf_counter() - started)


__all__ = ["FastPath", "FastRoutes"]
