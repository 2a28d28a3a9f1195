"""The memory store's queue settings, awaited tasks and schedules (ADRs 0028, 0029).

A mixin of InMemoryTaskStore, kept apart from the transitions: each method runs without
awaiting between its read and its write, like the rest of the store.
"""

from __future__ import annotations

import builtins
import copy
from datetime import datetime
from uuid import UUID

from attrs import evolve

from leaseq.adapters.memory.notifier import InMemoryNotifier
from leaseq.domain import (
    FlowState,
    Limits,
    LiveLeases,
    QueueLimits,
    QueueSettings,
    Schedule,
    ScheduleNotFound,
    ScheduleSpec,
    Task,
    TaskNotFound,
)
from leaseq.domain import validation as v
from leaseq.domain.limits import check_queue_limits, count_live, full_bucket
from leaseq.domain.queue import set_limits, set_paused
from leaseq.domain.schedule import check_schedule
from leaseq.ports import Clock, DueSchedules


class ProducerFeatures:
    _clock: Clock
    _limits: Limits
    _notifier: InMemoryNotifier | None
    _tasks: dict[UUID, Task]
    _queues: dict[str, QueueSettings]
    _flows: dict[str, FlowState]
    _schedules: dict[str, Schedule]

    # -- queue settings ----------------------------------------------------------------

    async def set_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> QueueSettings:
        at = self._instant(now)
        v.check_name("queue", queue)
        before = self._queues.get(queue, QueueSettings(queue))
        settings = set_paused(before, paused, now=at)
        if settings is not before:  # unchanged (resuming a queue never paused): nothing set
            self._queues[queue] = settings
        if not paused:
            self._wake_queue(queue)
        return settings

    async def set_limits(
        self, queue: str, limits: QueueLimits, *, now: datetime | None = None
    ) -> QueueSettings:
        at = self._instant(now)
        v.check_name("queue", queue)
        limits = check_queue_limits(limits)
        settings = set_limits(self._queues.get(queue, QueueSettings(queue)), limits, now=at)
        old = self._flows.get(queue, FlowState(limits))
        rate = limits.rate_per_second
        bucket = None if rate is None else full_bucket(rate, at)
        self._flows[queue] = evolve(old, limits=limits, bucket=bucket)
        self._queues[queue] = settings
        self._wake_queue(queue)
        return settings

    async def live_leases(self, queue: str, *, now: datetime | None = None) -> LiveLeases:
        at = self._instant(now)
        v.check_name("queue", queue)
        return count_live(
            t.concurrency_key
            for t in self._tasks.values()
            if t.queue == queue and t.has_live_lease(at)
        )

    async def queue_settings(self, queue: str) -> QueueSettings:
        v.check_name("queue", queue)
        return self._queues.get(queue, QueueSettings(queue))

    async def all_queue_settings(self) -> builtins.list[QueueSettings]:
        return [self._queues[name] for name in sorted(self._queues)]

    def _flow(self, queue: str) -> FlowState | None:
        """The flow state of a limited queue (None: no limits)."""
        flow = self._flows.get(queue)
        return flow if flow is not None and flow.limits.limited else None

    def _is_paused(self, queue: str) -> bool:
        settings = self._queues.get(queue)
        return settings is not None and settings.paused

    def _wake_queue(self, queue: str) -> None:
        if self._notifier is not None:
            self._notifier.notify_now(queue)

    # -- awaited tasks -----------------------------------------------------------------

    async def watch(self, task_id: UUID) -> Task:
        """Every final state is announced here: nothing to mark."""
        task = self._tasks.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        # a copy, as every answer of the store: the caller never holds its internals
        return evolve(
            task,
            payload=copy.deepcopy(task.payload),
            result=copy.deepcopy(task.result),
            labels=dict(task.labels),
        )

    def _announce_final(self, task_id: UUID) -> None:
        if self._notifier is not None:
            self._notifier.notify_final_now(task_id)

    # -- schedules ---------------------------------------------------------------------

    async def current_time(self) -> datetime:
        return self._clock.now()

    async def put_schedule(
        self, spec: ScheduleSpec, *, next_fire_at: datetime, now: datetime | None = None
    ) -> Schedule:
        at = self._instant(now)
        check_schedule(spec, self._limits)
        v.check_aware("next_fire_at", next_fire_at)
        old = self._schedules.get(spec.name)
        schedule = Schedule(
            name=spec.name,
            cron=spec.cron,
            timezone=spec.timezone,
            task=spec.task,
            next_fire_at=next_fire_at,
            revision=1 if old is None else old.revision + 1,
            last_fire_at=None if old is None else old.last_fire_at,
            last_task_id=None if old is None else old.last_task_id,
            created_at=at if old is None else old.created_at,
            updated_at=at,
        )
        self._schedules[spec.name] = schedule
        return schedule

    async def get_schedule(self, name: str) -> Schedule:
        found = self._schedules.get(name)
        if found is None:
            raise ScheduleNotFound(name)
        return found

    async def list_schedules(self) -> builtins.list[Schedule]:
        return [self._schedules[name] for name in sorted(self._schedules)]

    async def delete_schedule(self, name: str) -> Schedule:
        found = self._schedules.pop(name, None)
        if found is None:
            raise ScheduleNotFound(name)
        return found

    async def due_schedules(self, *, limit: int, now: datetime | None = None) -> DueSchedules:
        at = self._instant(now)
        v.check_int("limit", limit, 1, 10_000)
        due = sorted(
            (s for s in self._schedules.values() if s.next_fire_at <= at),
            key=lambda s: (s.next_fire_at, s.name),
        )
        return DueSchedules(at, due[:limit])

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
        at = self._instant(now)
        found = self._schedules.get(name)
        if found is None or found.revision != revision or found.next_fire_at != due:
            return False
        self._schedules[name] = evolve(
            found,
            next_fire_at=following,
            last_fire_at=fired_at,
            last_task_id=task_id,
            updated_at=at,
        )
        return True

    def _instant(self, now: datetime | None) -> datetime:
        return v.check_aware("now", now) if now is not None else self._clock.now()
