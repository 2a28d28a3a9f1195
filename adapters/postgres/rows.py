"""Rows of `leaseq_tasks` to domain values, and domain values to bound parameters."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from leaseq.domain import Lease, RetryPolicy, Task, TaskEvent, TaskSpec, TaskState, Transition

_STATES = {state.value: state for state in TaskState}  # a dict lookup, not Enum's __call__


def to_task(row: Mapping[str, Any]) -> Task:
    """The driver decodes json/jsonb columns; timestamps arrive timezone-aware (UTC)."""
    token = row["lease_token"]
    lease = None
    if token is not None:
        lease = Lease(
            owner=row["lease_owner"],
            token=token,
            epoch=row["epoch"],
            expires_at=row["lease_expires_at"],
        )
    return Task(
        id=row["id"],
        queue=row["queue"],
        type=row["type"],
        type_version=row["type_version"],
        payload=row["payload"],
        labels=dict(row["labels"]),
        priority=row["priority"],
        run_at=row["run_at"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        retry_policy=_policy(
            row["retry_base"], row["retry_factor"], row["retry_max"], row["retry_jitter"]
        ),
        idempotency_key=row["idempotency_key"],
        state=_STATES[row["state"]],
        epoch=row["epoch"],
        lease=lease,
        last_error=row["last_error"],
        result=row["result"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


def to_event(row: Mapping[str, Any]) -> TaskEvent:
    """A row of `leaseq_task_events`."""
    from_state = row["from_state"]
    return TaskEvent(
        task_id=row["task_id"],
        at=row["at"],
        transition=Transition(row["transition"]),
        from_state=None if from_state is None else TaskState(from_state),
        to_state=TaskState(row["to_state"]),
        attempt=row["attempt"],
        epoch=row["epoch"],
        worker=row["worker"],
        error=row["error"],
    )


@functools.lru_cache(maxsize=256)
def _policy(base: float, factor: float, max_seconds: float, jitter: float) -> RetryPolicy:
    """Policies are few and immutable: validate each once, not once per row read."""
    return RetryPolicy(base_seconds=base, factor=factor, max_seconds=max_seconds, jitter=jitter)


def enqueue_params(
    specs: Sequence[TaskSpec], payloads: Sequence[str], ids: Sequence[UUID]
) -> dict[str, Any]:
    """Column arrays for the batch INSERT (unnest), one element per spec."""
    return {
        "ids": list(ids),
        "queues": [s.queue for s in specs],
        "types": [s.type for s in specs],
        "versions": [s.type_version for s in specs],
        "payloads": list(payloads),
        "labels": [json.dumps(dict(s.labels), ensure_ascii=False) for s in specs],
        "priorities": [s.priority for s in specs],
        "run_ats": [s.run_at for s in specs],
        "max_attempts": [s.max_attempts for s in specs],
        "bases": [float(s.retry_policy.base_seconds) for s in specs],
        "factors": [float(s.retry_policy.factor) for s in specs],
        "maxes": [float(s.retry_policy.max_seconds) for s in specs],
        "jitters": [float(s.retry_policy.jitter) for s in specs],
        "keys": [s.idempotency_key for s in specs],
    }


def micros(delay: timedelta | None) -> int | None:
    """A duration as whole microseconds (timedelta's own resolution), so SQL adds it exactly."""
    if delay is None:
        return None
    return (delay.days * 86_400 + delay.seconds) * 1_000_000 + delay.microseconds
