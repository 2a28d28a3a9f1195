"""HTTP metrics of one app: request counts, latency by route template, long-poll waiters.

Each app has its own registry (several apps can live in one process); the composition root
passes one in to share it with the task-event metrics (adapters/telemetry/prometheus.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServiceMetrics:
    def __init__(
        self, waiting: Callable[[], float], registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "leaseq_http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leaseq_http_request_duration_seconds",
            "HTTP request latency by route template (long polls included)",
            ["route", "method"],
            registry=self.registry,
        )
        self.waiters = Gauge(
            "leaseq_long_poll_waiters", "Lease requests waiting right now", registry=self.registry
        )
        self.waiters.set_function(waiting)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template, never by raw path."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)


async def app_metrics(request: Request) -> ServiceMetrics:
    found: ServiceMetrics = request.app.state.metrics
    return found
