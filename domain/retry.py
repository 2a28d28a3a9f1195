"""Retry policy: capped exponential backoff whose jitter draw is an argument."""

from __future__ import annotations

import math
from datetime import timedelta

from attrs import frozen

from leaseq.domain.errors import ValidationError

MAX_BACKOFF_SECONDS = 7 * 24 * 3600.0


@frozen
class RetryPolicy:
    """Delay before attempt n+1 after attempt n failed.

    raw(n) = min(max_seconds, base_seconds * factor ** (n - 1))
    delay  = raw(n) * (1 - jitter) + raw(n) * jitter * draw,   draw in [0, 1)

    so the delay always lies in [raw * (1 - jitter), raw] and never above the cap.
    The delay is floored to whole milliseconds, so that every adapter (Python or SQL)
    computes the same instant.
    """

    base_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 3600.0
    jitter: float = 0.2

    def __attrs_post_init__(self) -> None:
        validate_policy(self)

    def delay(self, attempt: int, draw: float) -> timedelta:
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        if not 0.0 <= draw < 1.0:
            raise ValueError("the jitter draw lies in [0, 1)")
        seconds = self._jittered(self._raw(attempt), draw)
        return timedelta(milliseconds=math.floor(seconds * 1000.0))

    def _raw(self, attempt: int) -> float:
        if self.base_seconds == 0.0:
            return 0.0  # zero times any power is zero, even a power too large for a float
        exponent = min(attempt - 1, 1000)  # factor ** 1000 overflows long after the cap
        try:
            return min(self.max_seconds, self.base_seconds * self.factor**exponent)
        except OverflowError:
            return self.max_seconds

    def _jittered(self, raw: float, draw: float) -> float:
        return raw * (1.0 - self.jitter) + raw * self.jitter * draw

    def to_json(self) -> dict[str, float]:
        return {
            "base_seconds": self.base_seconds,
            "factor": self.factor,
            "max_seconds": self.max_seconds,
            "jitter": self.jitter,
        }

    @classmethod
    def from_json(cls, data: dict[str, float]) -> RetryPolicy:
        return cls(**data)


def validate_policy(policy: RetryPolicy) -> None:
    base, factor = policy.base_seconds, policy.factor
    cap, jitter = policy.max_seconds, policy.jitter
    # A NaN anywhere is reported on the first field, as before (NaN fails every range).
    nan = math.isnan(base) or math.isnan(factor) or math.isnan(cap) or math.isnan(jitter)
    checks = (
        ("retry.base_seconds", not nan and 0.0 <= base <= MAX_BACKOFF_SECONDS),
        ("retry.factor", 1.0 <= factor <= 100.0),
        ("retry.max_seconds", base <= cap <= MAX_BACKOFF_SECONDS),
        ("retry.jitter", 0.0 <= jitter <= 1.0),
    )
    for field, ok in checks:
        if not ok:
            raise ValidationError(field, "out of range (see the retry policy documentation)")
