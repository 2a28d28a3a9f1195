"""Bearer-token authentication and scope checks: one check, used by every route (as a
FastAPI dependency, and by the body routes before they read a byte of the body)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection, Request

from leaseq.adapters.http.problems import Forbidden, Unauthorized
from leaseq.app.access import AccessTokens, Scope

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="leaseq"'}


def authorize(connection: HTTPConnection, scope: Scope, *or_scopes: Scope) -> None:
    """Refuse the request unless its bearer token holds `scope` or one of `or_scopes`
    (admin holds every scope); with no tokens configured (development mode) every request
    passes."""
    tokens: AccessTokens = connection.app.state.options.access
    if not tokens.enabled:
        return
    secret = _bearer(connection.headers.get("authorization"))
    if secret is None:
        raise Unauthorized("send 'Authorization: Bearer <token>'")
    if not secret.isprintable() or not secret.isascii():
        raise Unauthorized(
            "the bearer token holds characters no token has (printable ASCII only)",
            errors=[{"field": "Authorization", "message": "not a token"}],
        )
    scopes = tokens.scopes_of(secret)
    if scopes is None:
        raise Unauthorized("the bearer token is not known to this service")
    if not any(AccessTokens.allows(scopes, each) for each in (scope, *or_scopes)):
        names = " or ".join(f"'{each.value}'" for each in (scope, *or_scopes))
        raise Forbidden(f"this token lacks the {names} scope", scope=scope.value)


def require(scope: Scope, *or_scopes: Scope) -> Callable[[Request], Awaitable[None]]:
    """`authorize` as a FastAPI dependency."""

    async def check(request: Request) -> None:  # async: no thread-pool hop
        authorize(request, scope, *or_scopes)

    return check


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    kind, _, secret = header.partition(" ")
    secret = secret.strip()
    if kind.lower() != "bearer" or not secret:
        return None
    return secret
