"""Domain values as the wire format of API v1 (plain dicts, encoded by orjson)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from leaseq.domain import Enqueued, NewTasks, Task, TaskEvent, TaskState
from leaseq.ports import QueueStats


def timestamp(value: datetime) -> str:
    """ISO 8601, exactly as `value.isoformat()` writes it. A UTC instant (every instant
    the stores give) is written by orjson's encoder, in a third of the time: a lease
    answer writes two per task, a report answer one (tests/unit/test_http_representations
    holds the two to the same text)."""
    if value.tzinfo is UTC:
        return orjson.dumps(value)[1:-1].decode()
    return value.isoformat()


def task_json(task: Task) -> dict[str, Any]:
    """The task object; the lease is shown only while leased, and never its token."""
    lease = None
    if task.state is TaskState.LEASED and task.lease is not None:
        lease = {
            "owner": task.lease.owner,
            "epoch": task.lease.epoch,
            "expires_at": timestamp(task.lease.expires_at),
        }
    return {
        "id": str(task.id),
        "queue": task.queue,
        "type": task.type,
        "type_version": task.type_version,
        "payload": task.payload,
        "labels": task.labels,
        "priority": task.priority,
        "run_at": timestamp(task.run_at),
        "attempts": task.attempts,
        "max_attempts": task.max_attempts,
        "retry": task.retry_policy.to_json(),
        "idempotency_key": task.idempotency_key,
        "concurrency_key": task.concurrency_key,
        "state": task.state.value,
        "epoch": task.epoch,
        "lease": lease,
        "last_error": task.last_error,
        "result": task.result,
        "created_at": timestamp(task.created_at),
        "updated_at": timestamp(task.updated_at),
        "finished_at": None if task.finished_at is None else timestamp(task.finished_at),
    }


def enqueued_json(answers: Sequence[Enqueued]) -> list[dict[str, Any]]:
    """The answers of a batch, without reading `task` (that would build each new one).
    orjson writes a `uuid.UUID` as str() would and a state as its value, several times
    faster; not asyncpg's own UUID type (the ids of old tasks, read back) though."""
    return [
        {
            "id": a.task_id if type(a.task_id) is UUID else str(a.task_id),
            "state": a.state,
            "deduplicated": a.deduplicated,
        }
        for a in answers
    ]


def new_tasks_json(new: NewTasks) -> list[dict[str, Any]]:
    """`enqueued_json` of tasks enqueued from one spec: all new, all pending."""
    pending = TaskState.PENDING
    return [
        {"id": i if type(i) is UUID else str(i), "state": pending, "deduplicated": False}
        for i in new.ids
    ]


_NEW_HEAD = b'{"tasks":[{"id":'
_NEW_BETWEEN = b',"state":"pending","deduplicated":false},{"id":'
_NEW_TAIL = b',"state":"pending","deduplicated":false}]}'


def new_tasks_body(new: NewTasks) -> bytes:
    """`{"tasks": new_tasks_json(new)}` as orjson writes it, from one encoding of the ids
    (`["…","…"]`: an id holds no comma, so each comma is a seam between two answers)."""
    if set(map(type, new.ids)) != {UUID}:  # none, or another UUID type than orjson writes
        return orjson.dumps({"tasks": new_tasks_json(new)})
    return _NEW_HEAD + orjson.dumps(new.ids)[1:-1].replace(b",", _NEW_BETWEEN) + _NEW_TAIL


def lease_json(task: Task) -> dict[str, Any]:
    """A granted lease, with the token: only its holder ever sees it."""
    assert task.lease is not None
    return {
        "task_id": str(task.id),
        "token": task.lease.token,
        "epoch": task.lease.epoch,
        "expires_at": timestamp(task.lease.expires_at),
        "attempt": task.attempts,
        "max_attempts": task.max_attempts,
        "queue": task.queue,
        "type": task.type,
        "type_version": task.type_version,
        "payload": task.payload,
        "labels": task.labels,
        "priority": task.priority,
        "created_at": timestamp(task.created_at),
    }


def heartbeat_json(task: Task) -> dict[str, Any]:
    assert task.lease is not None
    return {
        "task_id": str(task.id),
        "epoch": task.lease.epoch,
        "expires_at": timestamp(task.lease.expires_at),
    }


def queue_json(stats: QueueStats) -> dict[str, Any]:
    age = stats.oldest_ready_age
    return {
        "queue": stats.queue,
        "counts": {state.value: stats.counts.get(state, 0) for state in TaskState},
        "ready": stats.ready,
        "scheduled": stats.scheduled,
        "oldest_ready_age_seconds": None if age is None else age.total_seconds(),
        "succeeded_last_minute": stats.succeeded_last_minute,
        "dead_last_minute": stats.dead_last_minute,
    }


def event_json(event: TaskEvent) -> dict[str, Any]:
    return {
        "at": timestamp(event.at),
        "transition": event.transition.value,
        "from_state": None if event.from_state is None else event.from_state.value,
        "to_state": event.to_state.value,
        "attempt": event.attempt,
        "epoch": event.epoch,
        "worker": event.worker,
        "error": event.error,
    }
