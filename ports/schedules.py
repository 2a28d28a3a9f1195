"""The schedule ports: where schedules are kept, and the cron calendar that computes
their fire times (ADR 0029)."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol
from uuid import UUID

from attrs import frozen

from leaseq.domain import Schedule, ScheduleSpec


class CronCalendar(Protocol):
    def check(self, cron: str, timezone: str) -> None:
        """Raises ValidationError naming `cron` or `timezone` when the rule cannot be
        parsed, never fires, or the time zone is unknown."""
        ...

    def next_after(self, cron: str, timezone: str, instant: datetime) -> datetime:
        """The first fire time strictly after `instant` (timezone-aware, UTC), the rule
        read in `timezone`'s wall-clock time, DST transitions as Debian's cron has them."""
        ...


@frozen
class DueSchedules:
    """Schedules whose `next_fire_at` is at or before `at`, the store's current instant."""

    at: datetime
    schedules: list[Schedule]


class ScheduleStore(Protocol):
    async def current_time(self) -> datetime:
        """The store's clock (PostgreSQL's `now()` for the PostgreSQL store)."""
        ...

    async def put_schedule(
        self, spec: ScheduleSpec, *, next_fire_at: datetime, now: datetime | None = None
    ) -> Schedule:
        """Create or replace the schedule named `spec.name`; a replacement keeps its
        `created_at` and last fire, and gets `revision + 1`."""
        ...

    async def get_schedule(self, name: str) -> Schedule:
        """Raises ScheduleNotFound."""
        ...

    async def list_schedules(self) -> builtins.list[Schedule]:
        """Every schedule, sorted by name (code point order)."""
        ...

    async def delete_schedule(self, name: str) -> Schedule:
        """Delete it (tasks it enqueued stay). Raises ScheduleNotFound."""
        ...

    async def due_schedules(self, *, limit: int, now: datetime | None = None) -> DueSchedules:
        """At most `limit` schedules with `next_fire_at <= now`, earliest first (then by name)."""
        ...

    async def advance_schedule(
        self,
        name: str,
        *,
        revision: int,
        due: datetime,
        fired_at: datetime,
        following: datetime,
        task_id: UUID,
        now: datetime | None = None,
    ) -> bool:
        """Move the schedule on from `due` to `following`, recording the fire time and its
        task, only if it is still at `revision` and `due` (compare-and-set: of replicas
        firing one schedule at once, one moves it on). True when it moved."""
        ...
