"""TracedServiceStore: TracedTaskStore with spans around the queue-settings, awaiting and
schedule calls too (ADRs 0028, 0029)."""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from opentelemetry.trace import Tracer

from leaseq.adapters.telemetry.traced_store import TracedTaskStore
from leaseq.domain import LiveLeases, QueueLimits, QueueSettings, Schedule, ScheduleSpec, Task
from leaseq.ports import DueSchedules, ServiceStore


class TracedServiceStore(TracedTaskStore):
    def __init__(self, store: ServiceStore, tracer: Tracer) -> None:
        super().__init__(store, tracer)
        self._full = store

    async def set_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> QueueSettings:
        call = "pause" if paused else "resume"
        with self._span(call, **{"leaseq.queue": queue}):
            return await self._full.set_paused(queue, paused, now=now)

    async def set_limits(
        self, queue: str, limits: QueueLimits, *, now: datetime | None = None
    ) -> QueueSettings:
        with self._span("set_limits", **{"leaseq.queue": queue}):
            return await self._full.set_limits(queue, limits, now=now)

    async def live_leases(self, queue: str, *, now: datetime | None = None) -> LiveLeases:
        with self._span("live_leases", **{"leaseq.queue": queue}):
            return await self._full.live_leases(queue, now=now)

    async def queue_settings(self, queue: str) -> QueueSettings:
        with self._span("queue_settings", **{"leaseq.queue": queue}):
            return await self._full.queue_settings(queue)

    async def all_queue_settings(self) -> builtins.list[QueueSettings]:
        with self._span("all_queue_settings"):
            return await self._full.all_queue_settings()

    async def watch(self, task_id: UUID) -> Task:
        with self._span("watch", **{"leaseq.task_id": str(task_id)}) as span:
            return self._task(span, await self._full.watch(task_id))

    async def current_time(self) -> datetime:
        return await self._full.current_time()

    async def put_schedule(
        self, spec: ScheduleSpec, *, next_fire_at: datetime, now: datetime | None = None
    ) -> Schedule:
        with self._span("put_schedule", **{"leaseq.schedule": spec.name}):
            return await self._full.put_schedule(spec, next_fire_at=next_fire_at, now=now)

    async def get_schedule(self, name: str) -> Schedule:
        with self._span("get_schedule", **{"leaseq.schedule": name}):
            return await self._full.get_schedule(name)

    async def list_schedules(self) -> builtins.list[Schedule]:
        with self._span("list_schedules"):
            return await self._full.list_schedules()

    async def delete_schedule(self, name: str) -> Schedule:
        with self._span("delete_schedule", **{"leaseq.schedule": name}):
            return await self._full.delete_schedule(name)

    async def due_schedules(self, *, limit: int, now: datetime | None = None) -> DueSchedules:
        with self._span("due_schedules") as span:
            due = await self._full.due_schedules(limit=limit, now=now)
            span.set_attribute("leaseq.due", len(due.schedules))
            return due

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
        with self._span("advance_schedule", **{"leaseq.schedule": name}) as span:
            moved = await self._full.advance_schedule(
                name,
                revision=revision,
                due=due,
                fired_at=fired_at,
                following=following,
                task_id=task_id,
                now=now,
            )
            span.set_attribute("leaseq.outcome", "moved" if moved else "lost")
            return moved
