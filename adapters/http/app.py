"""The FastAPI application of API v1: routers, error handlers, middleware, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from leaseq.adapters.http import (
    routes_health,
    routes_index,
    routes_leases,
    routes_queues,
    routes_schedules,
    routes_tasks,
)
from leaseq.adapters.http.auth import CHALLENGE
from leaseq.adapters.http.body_routes import schema_components
from leaseq.adapters.http.console import mount_console
from leaseq.adapters.http.dev_host import check_loopback_host
from leaseq.adapters.http.fast_path import FastPath
from leaseq.adapters.http.limits import BodyLimitMiddleware
from leaseq.adapters.http.metrics import MetricsMiddleware, ServiceMetrics
from leaseq.adapters.http.openapi_doc import install_openapi
from leaseq.adapters.http.options import HttpOptions
from leaseq.adapters.http.problems import (
    INTERNAL,
    ClientGone,
    HostNotAllowed,
    HttpProblem,
    MethodNotAllowed,
    RequestInvalid,
    RouteNotFound,
    Unauthorized,
    problem_body,
    problem_type_of,
)
from leaseq.adapters.http.responses import OrjsonResponse, ProblemResponse
from leaseq.adapters.http.tracing import TracingMiddleware
from leaseq.app.runtime import Runtime
from leaseq.domain import LeaseqError

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, options: HttpOptions) -> FastAPI:
    """The app serves `runtime`'s use cases; the runtime starts and stops with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = ServiceApp(
        title="leaseq",
        version=_version(),
        description="A task queue with fenced leases. Errors are application/problem+json.",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
    )
    metrics = ServiceMetrics(waiting=lambda: _waiting(runtime), registry=options.registry)
    app.state.runtime = runtime
    app.development = not options.access.enabled
    app.state.options = options
    app.state.metrics = metrics
    for module in (
        routes_tasks,
        routes_leases,
        routes_queues,
        routes_schedules,
        routes_health,
        routes_index,
    ):
        app.include_router(module.router)
    mount_console(app, options.console_sample_seconds)
    _install_error_handlers(app)
    body_routes = (
        routes_leases.BODY_ROUTES
        + routes_tasks.BODY_ROUTES
        + routes_schedules.BODY_ROUTES
        + routes_queues.BODY_ROUTES
    )
    install_openapi(app, schema_components(body_routes))
    # Outermost first in the stack: metrics see every answer, including a 413.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=options.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if options.tracer is not None:
        app.add_middleware(TracingMiddleware, tracer=options.tracer)
    else:  # with tracing on, every request goes through the span middleware
        app.fast_path = FastPath(
            routes_leases.HOT_ROUTES.plus(routes_tasks.HOT_ROUTES),
            metrics=metrics,
            error_handler=app.exception_handler_for,
        )
    return app


class ServiceApp(FastAPI):
    """The FastAPI app, with the worker's hot routes answered in front of the stack."""

    fast_path: FastPath | None = None

    development = False  # no tokens: only loopback Host headers are answered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.development:
                try:
                    check_loopback_host(scope)
                except HostNotAllowed as error:
                    await ProblemResponse(problem_body(error), 403)(scope, receive, send)
                    self.state.metrics.requests.labels("unmatched", scope["method"], "403").inc()
                    return
            if self.fast_path is not None:
                await self.fast_path.serve(self, scope, receive, send, super().__call__)
                return
        await super().__call__(scope, receive, send)

    def exception_handler_for(self, error: Exception) -> Any:
        """The handler this app's exception middleware would pick for `error`."""
        for kind in type(error).__mro__:
            if kind in self.exception_handlers:
                return self.exception_handlers[kind]
        return _unexpected


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LeaseqError, _problem)
    app.add_exception_handler(HttpProblem, _problem)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _problem(request: Request, error: Exception) -> ProblemResponse:
    kind = problem_type_of(error)
    if kind.status >= 500:
        log.warning("%s %s answered %s: %s", request.method, request.url.path, kind.code, error)
    headers = CHALLENGE if isinstance(error, Unauthorized) else None
    return ProblemResponse(problem_body(error), status_code=kind.status, headers=headers)


async def _client_gone(request: Request, error: Exception) -> ProblemResponse:
    """Nobody reads this answer; it is counted in the metrics all the same."""
    return await _problem(request, ClientGone("the client went away before its body arrived"))


async def _invalid_request(request: Request, error: RequestValidationError) -> ProblemResponse:
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body",
            "message": e.get("msg", "invalid"),
        }
        for e in error.errors()
    ]
    problem = RequestInvalid("the request does not match the API schema", errors=errors)
    return await _problem(request, problem)


async def _http_exception(request: Request, error: StarletteHTTPException) -> ProblemResponse:
    if error.status_code == 400:  # FastAPI's "error parsing the body" (e.g. not UTF-8)
        problem = RequestInvalid(
            "the request body could not be parsed as JSON",
            errors=[{"field": "body", "message": str(error.detail)}],
        )
        return await _problem(request, problem)
    if error.status_code == 404:
        return await _problem(request, RouteNotFound(f"no route {request.url.path}"))
    if error.status_code == 405:
        response = await _problem(
            request, MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
        )
        if error.headers and "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    body: dict[str, Any] = {
        "type": "http_error",
        "title": str(error.detail),
        "status": error.status_code,
        "detail": str(error.detail),
    }
    return ProblemResponse(body, status_code=error.status_code, headers=error.headers)


async def _unexpected(request: Request, error: Exception) -> ProblemResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=error)
    return ProblemResponse(problem_body(error), status_code=INTERNAL.status)


def _waiting(runtime: Runtime) -> float:
    try:
        return float(runtime.service.waiting)
    except RuntimeError:
        return 0.0


def _version() -> str:
    try:
        return version("leaseq")
    except PackageNotFoundError:
        return "0+unknown"
