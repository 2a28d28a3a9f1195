"""How a worker stops: the first stop withdraws the lease request in flight (its grants
are asked for and released, never left to run out), the second gives the running tasks
back at once, a third signal is the default one (SIGINT: KeyboardInterrupt)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable

from attrs import evolve

from leaseq.sdk.errors import LeaseqClientError
from leaseq.sdk.transport.base import Transport
from leaseq.sdk.types import LeaseInfo, LeaseRequest

WITHDRAW_SECONDS = 5.0  # the repeat that collects a withdrawn request's grants
# A signal again within this is the same stop: `timeout` and some supervisors send it to
# the process and then to its whole group, so one stop arrives twice at once.
SAME_STOP_SECONDS = 0.25


async def withdraw(
    transport: Transport, request: LeaseRequest, logger: logging.Logger
) -> list[LeaseInfo]:
    """What a lease request cut off in flight (its await cancelled) was granted, for release.

    A long poll cut off while it waits is undone by the service (ADR 0019); an answer
    already on its way is not, so the same request is sent again as a repeat, which
    answers its live grants (ADR 0021). Found nothing, a repeat claims as a new request:
    without waiting, and what it brings is released like the rest.
    """
    granted: dict[object, LeaseInfo] = {}
    repeat = evolve(request, repeat=True, wait_seconds=0.0)
    try:
        async with asyncio.timeout(WITHDRAW_SECONDS):
            for lease in await transport.lease(repeat):
                granted.setdefault(lease.task_id, lease)
    except (LeaseqClientError, TimeoutError) as error:
        logger.warning("could not collect the withdrawn lease request's grants: %s", error)
    return list(granted.values())


class StopSignals:
    """SIGTERM and SIGINT call `on_signal` while installed (main thread only), once per
    stop: the same signal again within SAME_STOP_SECONDS is not a second stop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_signal: Callable[[], None]) -> None:
        self._loop = loop
        self._on_signal = on_signal
        self._installed: list[signal.Signals] = []
        self._last: dict[signal.Signals, float] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, self._received, sig)
                self._installed.append(sig)

    def _received(self, sig: signal.Signals) -> None:
        now = time.monotonic()
        last = self._last.get(sig)
        self._last[sig] = now
        if last is None or now - last >= SAME_STOP_SECONDS:
            self._on_signal()

    def remove(self) -> None:
        """Back to the defaults: the next SIGINT raises KeyboardInterrupt."""
        for sig in self._installed:
            self._loop.remove_signal_handler(sig)
        self._installed.clear()


__all__ = ["StopSignals", "withdraw"]
