"""Bearer tokens and their scopes: who may produce, work, or administer."""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable, Mapping
from pathlib import Path

from attrs import frozen


class Scope(enum.StrEnum):
    PRODUCE = "produce"  # enqueue
    WORK = "work"  # leases, heartbeats, results
    ADMIN = "admin"  # everything
    METRICS = "metrics"  # GET /metrics only (a Prometheus scraper's token)


class AccessConfigError(ValueError):
    """The token configuration cannot be parsed; the service refuses to start."""


@frozen
class AccessTokens:
    """The configured secrets. Lookup compares every secret in constant time."""

    grants: tuple[tuple[bytes, frozenset[Scope]], ...]

    @property
    def enabled(self) -> bool:
        return bool(self.grants)

    def scopes_of(self, secret: str) -> frozenset[Scope] | None:
        """The scopes a presented secret carries, or None for an unknown secret."""
        presented = secret.encode()
        found: frozenset[Scope] | None = None
        for known, scopes in self.grants:  # no early exit: the time spent names no secret
            if hmac.compare_digest(known, presented):
                found = scopes
        return found

    @staticmethod
    def allows(scopes: Iterable[Scope], needed: Scope) -> bool:
        held = set(scopes)
        return Scope.ADMIN in held or needed in held


def parse_tokens(text: str | None) -> dict[str, frozenset[Scope]]:
    """Parse "secret1:produce,work;secret2:admin" (newlines also separate entries)."""
    grants: dict[str, frozenset[Scope]] = {}
    for raw in (text or "").replace("\n", ";").split(";"):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        secret, sep, scope_text = entry.rpartition(":")
        if not sep or not secret:
            raise AccessConfigError("each token entry is 'secret:scope[,scope]'")
        try:
            scopes = frozenset(Scope(s.strip()) for s in scope_text.split(",") if s.strip())
        except ValueError:
            raise AccessConfigError(
                f"unknown scope in {scope_text!r}; scopes are produce, work, admin, metrics"
            ) from None
        if not scopes:
            raise AccessConfigError("a token needs at least one scope")
        grants[secret] = scopes
    return grants


def load_access_tokens(text: str | None, file: Path | None) -> AccessTokens:
    grants = parse_tokens(text)
    if file is not None:
        try:
            grants.update(parse_tokens(file.read_text(encoding="utf-8")))
        except OSError as exc:
            raise AccessConfigError(f"cannot read the tokens file {file}: {exc}") from None
    return _tokens_from(grants)


def _tokens_from(grants: Mapping[str, frozenset[Scope]]) -> AccessTokens:
    return AccessTokens(tuple((secret.encode(), scopes) for secret, scopes in grants.items()))
