"""The automatic prefetch: hold leased tasks beyond the slots only while handlers are short.

A prefetched task is leased and hidden from other workers until a slot frees (ADR 0014).
Behind short handlers that is a few milliseconds, and it hides a lease round trip per
wave; behind long handlers it hides tasks for as long as a handler runs and saves
nothing. So the worker, unless told a number, prefetches while its recent handlers are
short and not otherwise (docs/adr/0038-automatic-prefetch.md), and holds as many as
start within the short time, up to a ceiling (docs/adr/0039-prefetch-by-time.md).
"""

from __future__ import annotations

SHORT_SECONDS = 0.05  # a handler this quick is short: hiding a task this long is harmless
LEASE_FRACTION = 0.05  # … and no more than this part of a lease (a waiting task stays fresh)
DECAY = 0.1  # how far each shorter run pulls the estimate down
MOST_PER_SLOT = 4  # the prefetch is at most this many tasks per slot …
WAVE = 100  # … and at most this many (or `concurrency`, if more): larger waves gain nothing


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
        """How many tasks to hold beyond the slots: none unless handlers are short; then as
        many as the slots start within the short time (at least `concurrency`), up to
        `max(concurrency, min(4 * concurrency, 100))`."""
        estimate = self.estimate
        short = min(SHORT_SECONDS, lease_seconds * LEASE_FRACTION)
        if estimate is None or estimate > short:
            return 0
        ceiling = max(concurrency, min(MOST_PER_SLOT * concurrency, WAVE))
        if estimate <= 0:
            return ceiling
        # `concurrency` slots each run short / estimate handlers in the short time.
        return max(concurrency, min(ceiling, int(concurrency * short / estimate)))


__all__ = ["HandlerPace"]
