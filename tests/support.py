"""Deterministic test doubles of the clock, id and token ports, and small spec builders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from leaseq.domain import TaskSpec

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("a FakeClock never goes back")
        self._now += step
        return self._now


class SequentialIds:
    """UUIDs shaped like version 7, increasing with every call (as the port promises)."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def new_id(self) -> UUID:
        value = self._next
        self._next += 1
        return UUID(f"01900000-0000-7000-8000-{value:012x}")

    def new_ids(self, count: int) -> list[UUID]:
        return [self.new_id() for _ in range(count)]


class SequentialTokens:
    """Distinct, predictable lease tokens (real tokens are secrets; tests want repeatability)."""

    def __init__(self, prefix: str = "token") -> None:
        self._prefix = prefix
        self._count = 0

    def new_token(self) -> str:
        self._count += 1
        return f"{self._prefix}-{self._count:022d}"


class FixedJitter:
    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def draw(self) -> float:
        return self.value


def spec(queue: str = "emails", type: str = "send_email", **fields: Any) -> TaskSpec:
    """A valid TaskSpec with whatever fields a test cares about."""
    fields.setdefault("payload", {"to": "a@example.com"})
    return TaskSpec(queue=queue, type=type, **fields)
