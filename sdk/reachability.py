"""The worker's view of the service: one line when it stops answering, one when it is
back, and nothing per failed attempt in between (a worker outlives many outages)."""

from __future__ import annotations

import logging
import time

from leaseq.sdk.errors import LeaseqClientError, ServiceUnavailable, TransportError


class Reachability:
    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._down_since: float | None = None

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, error: LeaseqClientError, pause: float) -> None:
        """A lease request failed; the worker retries after `pause` seconds."""
        if not isinstance(error, TransportError | ServiceUnavailable):
            self._logger.warning(
                "lease request refused (%s %s: %s); retrying in %.2fs",
                error.status,
                error.code,
                error.detail,
                pause,
            )
            return
        if self._down_since is None:
            self._down_since = time.monotonic()
            what = "unreachable" if isinstance(error, TransportError) else "unavailable"
            self._logger.warning(
                "service %s (%s); retrying until it answers", what, error.detail or error.code
            )
        else:
            self._logger.debug("still no answer (%s); retrying in %.2fs", error, pause)

    def answered(self) -> None:
        """A lease request was answered."""
        if self._down_since is not None:
            down_for = time.monotonic() - self._down_since
            self._down_since = None
            self._logger.info("service reachable again (after %.1fs)", down_for)


__all__ = ["Reachability"]
