"""`GET /`: where to go from the service's root (no authentication: it names only paths)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from leaseq.adapters.http.responses import OrjsonResponse

router = APIRouter()

LINKS = {
    "console": "/console",
    "api_docs": "/docs",
    "openapi": "/openapi.json",
    "metrics": "/metrics",
    "health": "/healthz",
}


@router.get("/", include_in_schema=False)
async def index(request: Request) -> Response:
    """A browser goes to the console; anything else gets the links as JSON."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/console", status_code=307)
    return OrjsonResponse({"service": "leaseq", "links": LINKS})
