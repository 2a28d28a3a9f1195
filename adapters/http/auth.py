"""Bearer-token authentication and scope checks, as FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from leaseq.adapters.http.problems import Forbidden, Unauthorized
from leaseq.app.access import AccessTokens, Scope

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="leaseq"'}


def require(scope: Scope) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing requests whose token lacks `scope` (admin holds every scope)."""

    async def check(request: Request) -> None:  # async: no thread-pool hop per request
        tokens: AccessTokens = request.app.state.options.access
        if not tokens.enabled:
            return
        secret = _bearer(request.headers.get("authorization"))
        if secret is None:
            raise Unauthorized("send 'Authorization: Bearer <token>'")
        scopes = tokens.scopes_of(secret)
        if scopes is None:
            raise Unauthorized("the bearer token is not known to this service")
        if not AccessTokens.allows(scopes, scope):
            raise Forbidden(f"this token lacks the '{scope.value}' scope", scope=scope.value)

    return check


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    kind, _, secret = header.partition(" ")
    secret = secret.strip()
    if kind.lower() != "bearer" or not secret:
        return None
    return secret
