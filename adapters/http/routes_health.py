"""Liveness and readiness (no authentication: probes), and Prometheus metrics (a token with
the `metrics` or `admin` scope when tokens are configured; docs/operations.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leaseq.adapters.http.auth import require
from leaseq.adapters.http.metrics import ServiceMetrics
from leaseq.adapters.http.openapi_doc import problem
from leaseq.adapters.http.responses import OrjsonResponse
from leaseq.adapters.http.schemas import StatusOut
from leaseq.app.access import Scope
from leaseq.app.runtime import Runtime

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={200: {"model": StatusOut}})
async def healthz() -> OrjsonResponse:
    """The process answers."""
    return OrjsonResponse({"status": "ok"})


@router.get("/readyz", responses={200: {"model": StatusOut}, **problem(503)})
async def readyz(request: Request) -> OrjsonResponse:
    """The database answers and its schema is current."""
    runtime: Runtime = request.app.state.runtime
    await runtime.ready()
    return OrjsonResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(require(Scope.METRICS))],
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        **problem(401, 403),
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    registry: ServiceMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
