"""What a handler raises to choose its task's fate (returning means success)."""

from __future__ import annotations

from datetime import timedelta


class Retry(Exception):
    """Run the task again after `delay` seconds (else the task's backoff policy).
    It still counts as an attempt: when the attempts are used up the task goes dead."""

    def __init__(self, message: str = "retry requested", *, delay: float | timedelta | None = None):
        super().__init__(message)
        self.message = message
        self.delay_seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay


class Fatal(Exception):
    """Do not retry: the task goes to the dead-letter list with this message."""

    def __init__(self, message: str = "fatal error") -> None:
        super().__init__(message)
        self.message = message


__all__ = ["Fatal", "Retry"]
