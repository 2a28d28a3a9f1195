"""A failed connection said in words: "cannot connect to 127.0.0.1:8000: connection refused"
rather than the repr of aiohttp's exception chain (a log line a person can read)."""

from __future__ import annotations

import errno
import os

import aiohttp


def describe(error: BaseException, timeout: float | None = None) -> str:
    """One short line for a request that got no answer."""
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect to {error.host}:{error.port}: {_os_reason(error.os_error)}"
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return "no connection within the connect timeout"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the service closed the connection before answering"
    if isinstance(error, TimeoutError):
        return "no answer within the timeout" + (f" ({timeout:g}s)" if timeout else "")
    if isinstance(error, aiohttp.ClientOSError):
        return f"connection failed: {_os_reason(error)}"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _os_reason(error: OSError) -> str:
    if error.errno == errno.ECONNREFUSED:
        return "connection refused (is the service running?)"
    if error.strerror and not error.strerror.startswith("Connect call failed"):
        return error.strerror.lower() if error.strerror[1:2].islower() else error.strerror
    return os.strerror(error.errno).lower() if error.errno else str(error)


__all__ = ["describe"]
