"""Signing in to the console with an admin token, and signing out."""

from __future__ import annotations

import urllib.parse

from fastapi import APIRouter, Request
from fastapi.responses import Response

from leaseq.adapters.http.console import session
from leaseq.adapters.http.console.web import (
    SignedIn,
    check_csrf,
    console_path,
    first,
    form,
    options,
    redirect,
    render,
)
from leaseq.app.access import AccessTokens, Scope

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("")
async def home() -> Response:
    return redirect("/console/queues")


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    if not options(request).access.enabled:
        return redirect(console_path(next))
    return render(request, "sign_in.html", {"next": console_path(next), "error": None})


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    opts = options(request)
    fields = await form(request)
    target = console_path(first(fields, "next"))
    if not opts.access.enabled:
        return redirect(target)
    secret = (first(fields, "token") or "").strip()
    scopes = opts.access.scopes_of(secret) if secret else None
    if scopes is None:
        return _refused(request, target, "That token is not known to this service.", 401)
    if not AccessTokens.allows(scopes, Scope.ADMIN):
        return _refused(request, target, "That token lacks the admin scope.", 403)
    response = redirect(target)
    response.set_cookie(
        session.COOKIE,
        session.issue(secret.encode(), opts.clock.now()),
        max_age=int(session.LIFETIME.total_seconds()),
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request, current: SignedIn) -> Response:
    check_csrf(request, current, await form(request))
    response = redirect("/console/sign-in")
    response.delete_cookie(session.COOKIE, path="/console", httponly=True, samesite="strict")
    return response


def _refused(request: Request, target: str, message: str, status: int) -> Response:
    return render(request, "sign_in.html", {"next": target, "error": message}, status)


def sign_in_location(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/console/sign-in?" + urllib.parse.urlencode({"next": console_path(here)})
