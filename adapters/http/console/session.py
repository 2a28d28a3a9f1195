"""Console sign-in sessions: cookies signed by itsdangerous, and per-session CSRF tokens.

The cookie never holds the admin token. It holds a random nonce and the time it was
issued, signed (HMAC, itsdangerous' `URLSafeTimedSerializer`) with the admin token that
signed in. Verifying tries every configured admin token, so sessions need no server-side
state (any replica can check them) and removing a token from the configuration ends every
session it opened. Anything that does not verify — tampered, forged, expired, issued in
the future, absurd — is no session: the console redirects to the sign-in form.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from attrs import frozen
from itsdangerous import BadData, Signer, TimestampSigner, URLSafeTimedSerializer

from leaseq.app.access import AccessTokens, Scope

COOKIE = "leaseq_console"
LIFETIME = timedelta(hours=12)
_SESSION_SALT = "leaseq.console.session"
_CSRF_SALT = "leaseq.console.csrf"


@frozen
class Session:
    """A verified console session: `csrf` is the token its forms must carry."""

    csrf: str
    expires_at: datetime


def admin_keys(access: AccessTokens) -> list[bytes]:
    return [secret for secret, scopes in access.grants if AccessTokens.allows(scopes, Scope.ADMIN)]


def _serializer(key: bytes, now: datetime) -> URLSafeTimedSerializer:
    """Signs and checks with `now` (the service's clock) as the current time."""

    class SignerAtNow(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(now.timestamp())

    return URLSafeTimedSerializer(key, salt=_SESSION_SALT, signer=SignerAtNow)


def _csrf(key: bytes, nonce: str) -> str:
    return Signer(key, salt=_CSRF_SALT).get_signature(nonce).decode()


def issue(admin_secret: bytes, now: datetime) -> str:
    """A new cookie value for a session opened with `admin_secret`."""
    return _serializer(admin_secret, now).dumps(secrets.token_urlsafe(16))


def verify(value: str | None, access: AccessTokens, now: datetime) -> Session | None:
    """The session a cookie value proves, or None (malformed, forged, expired, revoked)."""
    if not value or len(value) > 512:
        return None
    found: tuple[bytes, str, datetime] | None = None
    for key in admin_keys(access):  # no early exit: the time spent names no token
        try:
            nonce, issued = _serializer(key, now).loads(
                value, max_age=int(LIFETIME.total_seconds()) - 1, return_timestamp=True
            )
        except (BadData, ValueError, OverflowError):
            continue
        if isinstance(nonce, str):
            found = (key, nonce, issued)
    if found is None:
        return None
    key, nonce, issued = found
    return Session(csrf=_csrf(key, nonce), expires_at=issued + LIFETIME)


def development_session(key: bytes, now: datetime) -> Session:
    """With authentication off there is no sign-in, but forms still carry a CSRF token
    (keyed by a per-process secret) so another site cannot post to a local console."""
    return Session(csrf=_csrf(key, "development"), expires_at=now + LIFETIME)


def csrf_matches(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(session.csrf, presented)
