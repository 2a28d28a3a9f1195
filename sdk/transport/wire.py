"""HTTP API v1 JSON ↔ SDK value types."""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from typing import Any
from uuid import UUID, SafeUUID

from leaseq.sdk.types import (
    EnqueueResult,
    FlowLimits,
    LeaseHolder,
    LeaseInfo,
    LeaseRenewal,
    LeaseRequest,
    Outcome,
    QueueInfo,
    QueueState,
    Reported,
    RetrySettings,
    ScheduleInfo,
    TaskEventInfo,
    TaskInfo,
    TaskRequest,
)

Body = dict[str, Any]


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _required_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def task_request_body(request: TaskRequest) -> Body:
    body: Body = {
        "queue": request.queue,
        "type": request.type,
        "type_version": request.version,
        "payload": request.payload,
        "labels": request.labels,  # already the request's own dict: encoded, not kept
        "priority": request.priority,
        "max_attempts": request.max_attempts,
    }
    if request.run_at is not None:
        body["run_at"] = request.run_at.isoformat()
    if request.delay_seconds is not None:
        body["delay_seconds"] = request.delay_seconds
    if request.retry is not None:
        body["retry"] = {
            "base_seconds": request.retry.base_seconds,
            "factor": request.retry.factor,
            "max_seconds": request.retry.max_seconds,
            "jitter": request.retry.jitter,
        }
    if request.idempotency_key is not None:
        body["idempotency_key"] = request.idempotency_key
    if request.concurrency_key is not None:
        body["concurrency_key"] = request.concurrency_key
    return body


def enqueue_result(body: Body) -> EnqueueResult:
    return EnqueueResult(UUID(body["id"]), body["state"], bool(body["deduplicated"]))


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def enqueue_results(bodies: list[Body]) -> list[EnqueueResult]:
    """`enqueue_result` of each, by C loops (map) when every id is in the canonical form
    the service writes: the UUIDs made as UUID() would make them (the same int, `is_safe`
    unknown) without a Python call per id; a thousand answers took longer than the batch's
    encoding."""
    texts = list(map(itemgetter("id"), bodies))
    if set(map(type, texts)) != {str} or not all(map(_CANONICAL.fullmatch, texts)):
        return [enqueue_result(b) for b in bodies]
    ints = map(int, map(str.replace, texts, repeat("-"), repeat("")), repeat(16))
    ids = list(map(object.__new__, repeat(UUID, len(texts))))
    deque(map(object.__setattr__, ids, repeat("int"), ints), maxlen=0)
    deque(map(object.__setattr__, ids, repeat("is_safe"), repeat(SafeUUID.unknown)), maxlen=0)
    states = map(itemgetter("state"), bodies)
    return list(map(EnqueueResult, ids, states, map(bool, map(itemgetter("deduplicated"), bodies))))


def task_info(body: Body) -> TaskInfo:
    lease = body.get("lease")
    return TaskInfo(
        id=UUID(body["id"]),
        queue=body["queue"],
        type=body["type"],
        type_version=body["type_version"],
        payload=body.get("payload"),
        labels=dict(body.get("labels") or {}),
        priority=body["priority"],
        run_at=_required_time(body["run_at"]),
        attempts=body["attempts"],
        max_attempts=body["max_attempts"],
        retry=RetrySettings(**body["retry"]),
        idempotency_key=body.get("idempotency_key"),
        concurrency_key=body.get("concurrency_key"),
        state=body["state"],
        epoch=body["epoch"],
        lease=None
        if lease is None
        else LeaseHolder(lease["owner"], lease["epoch"], _required_time(lease["expires_at"])),
        last_error=body.get("last_error"),
        result=body.get("result"),
        created_at=_required_time(body["created_at"]),
        updated_at=_required_time(body["updated_at"]),
        finished_at=_time(body.get("finished_at")),
    )


def lease_request_body(request: LeaseRequest) -> Body:
    body: Body = {
        "queue": request.queue,
        "worker_id": request.worker_id,
        "max_tasks": request.max_tasks,
        "lease_seconds": request.lease_seconds,
        "wait_seconds": request.wait_seconds,
    }
    if request.types is not None:
        body["types"] = [{"type": t.type, "version": t.version} for t in request.types]
    if request.request_id is not None:
        body["request_id"] = request.request_id
    if request.repeat:
        body["repeat"] = True
    return body


def lease_info(body: Body, waited_seconds: float = 0.0) -> LeaseInfo:
    return LeaseInfo(
        task_id=UUID(body["task_id"]),
        token=body["token"],
        epoch=body["epoch"],
        expires_at=_required_time(body["expires_at"]),
        attempt=body["attempt"],
        max_attempts=body["max_attempts"],
        queue=body["queue"],
        type=body["type"],
        type_version=body["type_version"],
        payload=body.get("payload"),
        labels=dict(body.get("labels") or {}),
        priority=body.get("priority", 0),
        created_at=_required_time(body["created_at"]),
        waited_seconds=waited_seconds,
    )


def lease_renewal(body: Body) -> LeaseRenewal:
    return LeaseRenewal(UUID(body["task_id"]), body["epoch"], _required_time(body["expires_at"]))


def reported(task_id: UUID, body: Body) -> Reported:
    """An accepted answer of POST /v1/results asked with include_tasks=false."""
    return Reported(task_id, body["state"], _required_time(body["updated_at"]))


def outcome_body(outcome: Outcome) -> Body:
    body: Body = {"task_id": str(outcome.task_id), "token": outcome.token, "outcome": outcome.kind}
    if outcome.kind == "complete":
        body["result"] = outcome.result
    else:
        body["error"] = outcome.error or ""
    if outcome.kind == "retry" and outcome.delay_seconds is not None:
        body["delay_seconds"] = outcome.delay_seconds
    return body


def queue_info(body: Body) -> QueueInfo:
    return QueueInfo(**_queue_fields(body))


def queue_state(body: Body) -> QueueState:
    """GET /v1/queues/{queue} and the pause/resume answers."""
    limits = body.get("limits") or {}
    per_key = body.get("live_per_key")
    return QueueState(
        **_queue_fields(body),
        paused=body["paused"],
        paused_at=_time(body.get("paused_at")),
        limits=FlowLimits(
            limits.get("concurrency"),
            limits.get("concurrency_per_key"),
            limits.get("rate_per_second"),
        ),
        live_leases=body.get("live_leases", 0),
        live_per_key=None if per_key is None else dict(per_key),
    )


def limits_body(limits: FlowLimits) -> Body:
    """PUT /v1/queues/{queue}/limits: all three, null lifting one."""
    return {
        "concurrency": limits.concurrency,
        "concurrency_per_key": limits.concurrency_per_key,
        "rate_per_second": limits.rate_per_second,
    }


def _queue_fields(body: Body) -> dict[str, Any]:
    return {
        "queue": body["queue"],
        "counts": dict(body["counts"]),
        "ready": body["ready"],
        "scheduled": body["scheduled"],
        "oldest_ready_age_seconds": body.get("oldest_ready_age_seconds"),
        "succeeded_last_minute": body.get("succeeded_last_minute", 0),
        "dead_last_minute": body.get("dead_last_minute", 0),
    }


def schedule_body(cron: str, timezone: str, task: TaskRequest) -> Body:
    """PUT /v1/schedules/{name}: a template's run_at, delay or idempotency key is sent as
    given, so the service refuses it by name (the fire time sets those)."""
    return {"cron": cron, "timezone": timezone, "task": task_request_body(task)}


def schedule_info(body: Body) -> ScheduleInfo:
    task = body["task"]
    template = TaskRequest(
        queue=task["queue"],
        type=task["type"],
        payload=task.get("payload"),
        version=task["type_version"],
        labels=task.get("labels"),
        priority=task["priority"],
        max_attempts=task["max_attempts"],
        retry=RetrySettings(**task["retry"]),
        concurrency_key=task.get("concurrency_key"),
    )
    last_task = body.get("last_task_id")
    return ScheduleInfo(
        name=body["name"],
        cron=body["cron"],
        timezone=body["timezone"],
        task=template,
        next_fire_at=_required_time(body["next_fire_at"]),
        last_fire_at=_time(body.get("last_fire_at")),
        last_task_id=None if last_task is None else UUID(last_task),
        revision=body["revision"],
        created_at=_required_time(body["created_at"]),
        updated_at=_required_time(body["updated_at"]),
    )


def task_event_info(body: Body) -> TaskEventInfo:
    return TaskEventInfo(
        at=_required_time(body["at"]),
        transition=body["transition"],
        from_state=body.get("from_state"),
        to_state=body["to_state"],
        attempt=body["attempt"],
        epoch=body["epoch"],
        worker=body.get("worker"),
        error=body.get("error"),
    )


__all__ = [
    "enqueue_result",
    "enqueue_results",
    "lease_info",
    "lease_renewal",
    "lease_request_body",
    "outcome_body",
    "queue_info",
    "task_info",
    "task_request_body",
]
