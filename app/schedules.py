"""Schedule use cases: define, read and delete schedules, and fire the due ones (the
maintenance loop calls `fire_due` in every replica; ADR 0029)."""

from __future__ import annotations

import builtins
import functools
import logging
from datetime import datetime

from leaseq.app.observers import NoTaskEvents
from leaseq.domain import DomainError, Schedule, ScheduleNotFound, ScheduleSpec
from leaseq.domain.schedule import check_schedule, fire_spec, plan_firing
from leaseq.ports import CronCalendar, DueSchedules, ServiceStore, TaskEvents

log = logging.getLogger(__name__)


class ScheduleService:
    def __init__(
        self, store: ServiceStore, calendar: CronCalendar, events: TaskEvents | None = None
    ) -> None:
        self._store = store
        self._calendar = calendar
        self._events: TaskEvents = events or NoTaskEvents()

    async def put(self, spec: ScheduleSpec) -> tuple[Schedule, bool]:
        """Create or replace a schedule; True when it was created. A replacement with the
        same cron rule and time zone keeps its next fire time; otherwise the next fire
        time is the first after now (the store's clock). Raises ValidationError."""
        check_schedule(spec)
        self._calendar.check(spec.cron, spec.timezone)
        try:
            old: Schedule | None = await self._store.get_schedule(spec.name)
        except ScheduleNotFound:
            old = None
        if old is not None and (old.cron, old.timezone) == (spec.cron, spec.timezone):
            next_fire_at = old.next_fire_at
        else:
            now = await self._store.current_time()
            next_fire_at = self._calendar.next_after(spec.cron, spec.timezone, now)
        schedule = await self._store.put_schedule(spec, next_fire_at=next_fire_at)
        return schedule, old is None

    async def get(self, name: str) -> Schedule:
        return await self._store.get_schedule(name)

    async def list(self) -> builtins.list[Schedule]:
        return await self._store.list_schedules()

    async def delete(self, name: str) -> Schedule:
        return await self._store.delete_schedule(name)

    async def fire_due(self, *, limit: int = 100) -> int:
        """Enqueue the task of each due schedule's fire time and move the schedule on
        (the maintenance loop's step). Returns how many tasks were created."""
        return await self.fire(await self._store.due_schedules(limit=limit))

    async def fire(self, due: DueSchedules) -> int:
        """Fire `due` (the store's answer, judged by its clock). Exactly one task per fire
        time, however many replicas fire at once: the task's idempotency key names the
        fire time, and moving on is a compare-and-set. Returns how many were created."""
        created = 0
        for schedule in due.schedules:
            try:
                created += await self._fire(schedule, due.at)
            except DomainError as error:  # one bad schedule must not stop the others
                log.warning("schedule %s could not fire: %s", schedule.name, error)
        return created

    async def _fire(self, schedule: Schedule, at: datetime) -> int:
        next_after = functools.partial(self._calendar.next_after, schedule.cron, schedule.timezone)
        firing = plan_firing(schedule, at, next_after)
        if firing is None:
            return 0
        [answer] = await self._store.enqueue([fire_spec(schedule, firing.fire_at)])
        if not answer.deduplicated:
            self._events.enqueued([answer])
        await self._store.advance_schedule(
            schedule.name,
            revision=schedule.revision,
            due=schedule.next_fire_at,
            fired_at=firing.fire_at,
            following=firing.following,
            task_id=answer.task_id,
        )
        return 0 if answer.deduplicated else 1
