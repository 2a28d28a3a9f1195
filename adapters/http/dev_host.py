"""Development mode (no tokens) answers only requests addressed to a loopback host, so a web
page that rebinds its own DNS name to 127.0.0.1 cannot reach the unauthenticated API."""

from __future__ import annotations

from starlette.types import Scope

from leaseq.adapters.http.problems import HostNotAllowed

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def check_loopback_host(scope: Scope) -> None:
    """Refuse (`HostNotAllowed`) a request whose Host header names no loopback host."""
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
            break
    if host is None or not _verdict(host):
        shown = "no Host header" if host is None else f"Host {host[:100]!r}"
        raise HostNotAllowed(
            "with authentication off (development mode) the service answers only requests "
            f"to localhost, 127.0.0.1 or [::1] (any port); this one has {shown}",
            errors=[{"field": "Host", "message": "must be a loopback host"}],
        )


_VERDICTS: dict[str, bool] = {}  # the few Host values a development service sees


def _verdict(host: str) -> bool:
    found = _VERDICTS.get(host)
    if found is None:
        if len(_VERDICTS) >= 64:
            _VERDICTS.clear()
        found = _VERDICTS[host] = is_loopback_host(host)
    return found


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.1 or [::1], with or without a port."""
    name, port = host.lower(), ""
    if name.startswith("["):
        end = name.find("]") + 1
        name, port = name[:end], name[end:]
    elif ":" in name:
        name, _, rest = name.partition(":")
        port = ":" + rest
    if port and not (port[0] == ":" and port[1:].isdigit() and len(port) <= 6):
        return False
    return name in LOOPBACK_NAMES
