"""The operator web console at /console: server-rendered pages over the same use cases."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from leaseq.adapters.http.console import (
    routes_actions,
    routes_auth,
    routes_pages,
    routes_producer,
)
from leaseq.adapters.http.console.routes_auth import sign_in_location
from leaseq.adapters.http.console.throughput import ThroughputSampler
from leaseq.adapters.http.console.web import (
    HERE,
    ConsoleState,
    CsrfRefused,
    SignInRequired,
    redirect,
    render,
)
from leaseq.adapters.http.responses import ProblemResponse


def mount_console(app: FastAPI, sample_seconds: float = 5.0) -> None:
    """Serve the console from `app`; queue counts are sampled (and polled) every
    `sample_seconds` for the throughput sparkline."""
    app.state.console = ConsoleState(ThroughputSampler(interval=sample_seconds))
    for module in (routes_auth, routes_pages, routes_actions, routes_producer):
        app.include_router(module.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)


async def _sign_in_required(request: Request, error: Exception) -> Response:
    if request.url.path.startswith("/console/api/"):
        body = {
            "type": "unauthorized",
            "title": "Unauthorized",
            "status": 401,
            "detail": "sign in to the console first",
        }
        return ProblemResponse(body, status_code=401)
    if request.method != "GET":
        return redirect("/console/sign-in")
    return redirect(sign_in_location(request))


async def _csrf_refused(request: Request, error: Exception) -> Response:
    message = "This form is stale or came from another site. Go back, reload and try again."
    return render(request, "refused.html", {"message": message}, 403)


__all__ = ["ConsoleState", "mount_console"]
