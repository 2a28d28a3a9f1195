"""The PostgreSQL store's queue settings, awaited tasks and schedules (ADRs 0028, 0029).

A mixin of PostgresTaskStore: each call is one statement of producer_queries.py.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import TextClause

from leaseq.adapters.postgres import producer_queries as pq
from leaseq.adapters.postgres.flow import settings_of
from leaseq.adapters.postgres.rows import to_task
from leaseq.domain import (
    Limits,
    QueueSettings,
    Schedule,
    ScheduleNotFound,
    ScheduleSpec,
    Task,
    TaskNotFound,
)
from leaseq.domain import validation as v
from leaseq.domain.schedule import check_schedule, template_from_json, template_json
from leaseq.ports import DueSchedules

Row = Mapping[str, Any]


class PostgresProducerFeatures:
    _limits: Limits

    async def _rows(self, statement: TextClause, params: dict[str, Any]) -> builtins.list[Row]:
        raise NotImplementedError  # PostgresTaskStore's

    # -- queue settings ----------------------------------------------------------------

    async def set_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> QueueSettings:
        v.check_name("queue", queue)
        at = _aware(now)
        rows = await self._rows(pq.PAUSE if paused else pq.RESUME, {"queue": queue, "now": at})
        if rows:
            return settings_of(rows[0])
        return await self.queue_settings(queue)  # already so: nothing changed

    async def queue_settings(self, queue: str) -> QueueSettings:
        v.check_name("queue", queue)
        rows = await self._rows(pq.QUEUE_SETTINGS, {"queue": queue})
        return settings_of(rows[0]) if rows else QueueSettings(queue)

    async def all_queue_settings(self) -> builtins.list[QueueSettings]:
        return [settings_of(row) for row in await self._rows(pq.ALL_QUEUE_SETTINGS, {})]

    # -- awaited tasks -----------------------------------------------------------------

    async def watch(self, task_id: UUID) -> Task:
        rows = await self._rows(pq.WATCH, {"id": task_id})
        if not rows:
            raise TaskNotFound(task_id)
        return to_task(rows[0])

    # -- schedules ---------------------------------------------------------------------

    async def current_time(self) -> datetime:
        [row] = await self._rows(pq.CURRENT_TIME, {"now": None})
        now: datetime = row["now"]
        return now

    async def put_schedule(
        self, spec: ScheduleSpec, *, next_fire_at: datetime, now: datetime | None = None
    ) -> Schedule:
        check_schedule(spec, self._limits)
        params = {
            "name": spec.name,
            "cron": spec.cron,
            "timezone": spec.timezone,
            "task": json.dumps(template_json(spec.task), ensure_ascii=False),
            "next_fire_at": v.check_aware("next_fire_at", next_fire_at),
            "now": _aware(now),
        }
        [row] = await self._rows(pq.PUT_SCHEDULE, params)
        return to_schedule(row)

    async def get_schedule(self, name: str) -> Schedule:
        rows = await self._rows(pq.GET_SCHEDULE, {"name": name})
        if not rows:
            raise ScheduleNotFound(name)
        return to_schedule(rows[0])

    async def list_schedules(self) -> builtins.list[Schedule]:
        return [to_schedule(row) for row in await self._rows(pq.LIST_SCHEDULES, {})]

    async def delete_schedule(self, name: str) -> Schedule:
        rows = await self._rows(pq.DELETE_SCHEDULE, {"name": name})
        if not rows:
            raise ScheduleNotFound(name)
        return to_schedule(rows[0])

    async def due_schedules(self, *, limit: int, now: datetime | None = None) -> DueSchedules:
        v.check_int("limit", limit, 1, 10_000)
        rows = await self._rows(pq.DUE_SCHEDULES, {"limit": limit, "now": _aware(now)})
        found = [to_schedule(row) for row in rows if row["name"] is not None]
        return DueSchedules(rows[0]["judged_at"], found)

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
        params = {
            "name": name,
            "revision": revision,
            "due": due,
            "fired_at": fired_at,
            "following": following,
            "task_id": task_id,
            "now": _aware(now),
        }
        return bool(await self._rows(pq.ADVANCE_SCHEDULE, params))


def to_schedule(row: Row) -> Schedule:
    return Schedule(
        name=row["name"],
        cron=row["cron"],
        timezone=row["timezone"],
        task=template_from_json(row["task"]),
        next_fire_at=row["next_fire_at"],
        revision=row["revision"],
        last_fire_at=row["last_fire_at"],
        last_task_id=row["last_task_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _aware(now: datetime | None) -> datetime | None:
    return None if now is None else v.check_aware("now", now)
