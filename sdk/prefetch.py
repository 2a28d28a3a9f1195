"""The automatic prefetch: hold leased tasks beyond the slots only while handlers are short.

A prefetched task is leased and hidden from other workers until a slot frees (ADR 0014).
Behind short handlers that is a few milliseconds, and it hides a lease round trip per
wave; behind long handlers it hides tasks for as long as a handler runs and saves
nothing. So the worker, unless told a number, prefetches `concurrency` tasks while its
recent handlers are short and none otherwise (docs/adr/0038-automatic-prefetch.md).
"""

from __future__ import annotations

SHORT_SECONDS = 0.05  # a handler this quick is short: hiding a task this long is harmless
LEASE_FRACTION = 0.05  # … and no more than this part of a lease (a waiting task stays fresh)
DECAY = 0.1  # how far each shorter run pulls the estimate down


class HandlerPace:
    """A cautious estimate of how long this worker's handlers run: any longer run raises it
    at once; shorter runs lower it a tenth of the way each. One slow run turns the
    automatic prefetch off at once; it comes back after a few dozen short ones."""

    def __init__(self) -> None:
        self.estimate: float | None = None  # seconds; None until a handler has ended

    def ran(self, seconds: float) -> None:
        estimate = self.estimate
        if estimate is None or seconds >= estimate:
            self.estimate = seconds
        else:
            self.estimate = estimate + (seconds - estimate) * DECAY

    def prefetch(self, concurrency: int, lease_seconds: float) -> int:
        """How many tasks to hold beyond the slots: `concurrency` while handlers are short."""
        estimate = self.estimate
        short = min(SHORT_SECONDS, lease_seconds * LEASE_FRACTION)
        return concurrency if estimate is not None and estimate <= short else 0


__all__ = ["HandlerPace"]
