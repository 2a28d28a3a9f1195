"""Schedules and queue states as the wire format of API v1."""

from __future__ import annotations

from typing import Any

from leaseq.adapters.http.representations import queue_json, timestamp
from leaseq.app.queue_control import QueueView
from leaseq.domain import QueueLimits, RetryPolicy, Schedule, ScheduleSpec, TaskSpec
from leaseq.domain.schedule import template_json

DEFAULT_RETRY = RetryPolicy()


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    last = schedule.last_fire_at
    return {
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "task": template_json(schedule.task),
        "next_fire_at": timestamp(schedule.next_fire_at),
        "last_fire_at": None if last is None else timestamp(last),
        "last_task_id": None if schedule.last_task_id is None else str(schedule.last_task_id),
        "revision": schedule.revision,
        "created_at": timestamp(schedule.created_at),
        "updated_at": timestamp(schedule.updated_at),
    }


def queue_state_json(view: QueueView) -> dict[str, Any]:
    paused_at = view.settings.paused_at
    limits = view.settings.limits
    body = {
        **queue_json(view.stats),
        "paused": view.paused,
        "paused_at": None if paused_at is None else timestamp(paused_at),
        "limits": {
            "concurrency": limits.concurrency,
            "concurrency_per_key": limits.concurrency_per_key,
            "rate_per_second": limits.rate_per_second,
        },
        "live_leases": view.stats.live_leases,
    }
    if view.live_per_key is not None:
        body["live_per_key"] = dict(sorted(view.live_per_key.items()))
    return body


def schedule_spec(name: str, body: Any) -> ScheduleSpec:
    """A ScheduleIn (already schema-checked) as the domain's ScheduleSpec."""
    task = body.task
    retry = task.retry
    policy = (
        DEFAULT_RETRY
        if retry is None
        else RetryPolicy(retry.base_seconds, retry.factor, retry.max_seconds, retry.jitter)
    )
    template = TaskSpec(
        queue=task.queue,
        type=task.type,
        payload=task.payload,
        type_version=task.type_version,
        labels=task.labels,
        priority=task.priority,
        max_attempts=task.max_attempts,
        retry_policy=policy,
        concurrency_key=task.concurrency_key,
    )
    return ScheduleSpec(name=name, cron=body.cron, timezone=body.timezone, task=template)


def queue_limits(body: Any) -> QueueLimits:
    """A LimitsIn (already schema-checked) as the domain's QueueLimits."""
    return QueueLimits(body.concurrency, body.concurrency_per_key, body.rate_per_second)
