"""Console sign-in sessions: HMAC-signed cookie values and per-session CSRF tokens.

The cookie never holds the admin token. It holds `<expires>.<nonce>.<signature>`, where the
signature is HMAC-SHA256 keyed by the admin token that signed in. Verifying tries every
configured admin token, so sessions need no server-side state (any replica can check them)
and removing a token from the configuration ends every session it opened.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from attrs import frozen

from leaseq.app.access import AccessTokens, Scope

COOKIE = "leaseq_console"
LIFETIME = timedelta(hours=12)


@frozen
class Session:
    """A verified console session: `csrf` is the token its forms must carry."""

    csrf: str
    expires_at: datetime


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def admin_keys(access: AccessTokens) -> list[bytes]:
    return [secret for secret, scopes in access.grants if AccessTokens.allows(scopes, Scope.ADMIN)]


def issue(admin_secret: bytes, now: datetime) -> str:
    """A new cookie value for a session opened with `admin_secret`."""
    expires = int((now + LIFETIME).timestamp())
    nonce = secrets.token_urlsafe(16)
    return f"{expires}.{nonce}.{_mac(admin_secret, f'session|{expires}|{nonce}')}"


def verify(value: str | None, access: AccessTokens, now: datetime) -> Session | None:
    """The session a cookie value proves, or None (malformed, forged, expired, revoked)."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    expires, nonce, signature = parts
    expires_at = datetime.fromtimestamp(int(expires), tz=now.tzinfo)
    found: bytes | None = None
    for key in admin_keys(access):  # no early exit: the time spent names no token
        if hmac.compare_digest(_mac(key, f"session|{expires}|{nonce}"), signature):
            found = key
    if found is None or expires_at <= now:
        return None
    return Session(csrf=_mac(found, f"csrf|{nonce}"), expires_at=expires_at)


def development_session(key: bytes, now: datetime) -> Session:
    """With authentication off there is no sign-in, but forms still carry a CSRF token
    (keyed by a per-process secret) so another site cannot post to a local console."""
    return Session(csrf=_mac(key, "csrf|development"), expires_at=now + LIFETIME)


def csrf_matches(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(session.csrf, presented)
