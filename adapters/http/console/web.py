"""What every console route shares: templates, the session dependency, forms, headers."""

from __future__ import annotations

import secrets
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from leaseq.adapters.http.console import presentation, session
from leaseq.adapters.http.console.session import Session
from leaseq.adapters.http.console.throughput import ThroughputSampler
from leaseq.adapters.http.options import HttpOptions

HERE = Path(__file__).parent
# Pages are only ever the console's own; no framing, no third-party anything.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes browsers send Origin: null
    "Cache-Control": "no-store",
}


class ConsoleState:
    """Per-app console state: templates, the throughput sampler, the development key."""

    def __init__(self, sampler: ThroughputSampler | None = None) -> None:
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["age"] = presentation.age
        self.templates.filters["when"] = presentation.when
        self.templates.filters["error_line"] = presentation.error_line
        self.templates.filters["pretty_json"] = presentation.pretty_json
        self.sampler = sampler or ThroughputSampler()
        self.development_key = secrets.token_bytes(32)


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form, the JSON endpoint answers 401."""


class CsrfRefused(Exception):
    """A console POST without the session's CSRF token, or from another origin."""


def state(request: Request) -> ConsoleState:
    found: ConsoleState = request.app.state.console
    return found


def options(request: Request) -> HttpOptions:
    found: HttpOptions = request.app.state.options
    return found


async def signed_in(request: Request) -> Session:
    opts = options(request)
    now = opts.clock.now()
    if not opts.access.enabled:
        return session.development_session(state(request).development_key, now)
    found = session.verify(request.cookies.get(session.COOKIE), opts.access, now)
    if found is None:
        raise SignInRequired()
    return found


SignedIn = Annotated[Session, Depends(signed_in)]


async def form(request: Request) -> dict[str, list[str]]:
    """The urlencoded form body (no multipart dependency: the console's forms are small)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return urllib.parse.parse_qs(body, keep_blank_values=True)


def first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def check_csrf(request: Request, current: Session, fields: dict[str, list[str]]) -> None:
    origin = request.headers.get("origin")  # browsers send it on POST; "null" is refused too
    if origin and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"):
        raise CsrfRefused()
    if not session.csrf_matches(current, first(fields, "csrf")):
        raise CsrfRefused()


def console_path(candidate: str | None, default: str = "/console/queues") -> str:
    """Only our own pages are places to go back to (no open redirect)."""
    unsafe = not candidate or any(c in candidate for c in "\\\r\n")
    if not unsafe and candidate and candidate.startswith("/console/"):
        return candidate
    return default


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    opts = options(request)
    page = state(request).templates.get_template(template)
    html = page.render(
        auth_enabled=opts.access.enabled,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)
