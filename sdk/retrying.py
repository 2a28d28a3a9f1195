"""The client's retry rule: jittered exponential backoff for failures worth repeating.

Connection failures where the request never left are always retried; other transport
failures and 5xx answers only for calls that are safe to repeat (reads, and enqueue
when every task carries an idempotency key).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from attrs import frozen

from leaseq.sdk.errors import LeaseqClientError, ServiceUnavailable, TransportError

T = TypeVar("T")


@frozen
class RetryRule:
    """`attempts` tries in all; the pause before try n+1 is uniform in [0, cap(n)]
    ("full jitter"), cap(n) = min(max_seconds, base_seconds * 2 ** n)."""

    attempts: int = 4
    base_seconds: float = 0.1
    max_seconds: float = 2.0

    def pause(self, retry_number: int, draw: float) -> float:
        return draw * min(self.max_seconds, self.base_seconds * 2.0**retry_number)


NO_RETRIES = RetryRule(attempts=1)
DEFAULT_RETRIES = RetryRule()
REPORT_RETRIES = RetryRule(attempts=5, base_seconds=0.1, max_seconds=2.0)
# Pauses between claims after errors or empty answers (attempts unused: never gives up).
CLAIM_BACKOFF = RetryRule(attempts=0, base_seconds=0.05, max_seconds=5.0)


def is_retriable(error: LeaseqClientError, *, safe: bool) -> bool:
    if isinstance(error, TransportError):
        return safe or not error.request_sent
    return safe and isinstance(error, ServiceUnavailable)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    safe: bool,
    rule: RetryRule,
    draw: Callable[[], float] = random.random,
) -> T:
    for number in range(rule.attempts):
        try:
            return await call()
        except LeaseqClientError as error:
            if number + 1 >= rule.attempts or not is_retriable(error, safe=safe):
                raise
            await asyncio.sleep(rule.pause(number, draw()))
    raise AssertionError("unreachable: the last attempt returns or raises")


__all__ = [
    "CLAIM_BACKOFF",
    "DEFAULT_RETRIES",
    "NO_RETRIES",
    "REPORT_RETRIES",
    "RetryRule",
    "is_retriable",
    "with_retries",
]
