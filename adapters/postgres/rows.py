"""Rows of `leaseq_tasks` to domain values, and domain values to bound parameters."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from leaseq.adapters.postgres.queries import ENQUEUE_INPUT
from leaseq.domain import (
    Lease,
    ReportedTask,
    ReportRecord,
    RetryPolicy,
    Task,
    TaskEvent,
    TaskSpec,
    TaskState,
    Transition,
)

_STATES = {state.value: state for state in TaskState}  # a dict lookup, not Enum's __call__


def to_task(row: Mapping[str, Any]) -> Task:
    """The driver decodes json/jsonb columns (a fresh dict for `labels`); timestamps arrive
    timezone-aware (UTC).

    Every lease and every report answer is built here, so it is on the hot path: the
    constructors are called positionally, in field order, which costs a quarter less than
    by keyword (a class's generated `__init__` matches each keyword by name);
    tests/unit/test_rows.py checks that each field gets its own column."""
    epoch = row["epoch"]
    token = row["lease_token"]
    lease = None
    if token is not None:
        lease = Lease(
            row["lease_owner"], token, epoch, row["lease_expires_at"], row["lease_request"]
        )
    fingerprint = row["report_fingerprint"]
    report = None
    if fingerprint is not None:
        report = ReportRecord(
            fingerprint,
            _STATES[row["report_state"]],
            row["report_at"],
            row["report_epoch"],
            row["report_attempts"],
            row["report_run_at"],
            row["report_last_error"],
        )
    return Task(
        row["id"],
        row["queue"],
        row["type"],
        row["type_version"],
        row["payload"],
        row["labels"],
        row["priority"],
        row["run_at"],
        row["attempts"],
        row["max_attempts"],
        _policy(row["retry_base"], row["retry_factor"], row["retry_max"], row["retry_jitter"]),
        row["idempotency_key"],
        _STATES[row["state"]],
        epoch,
        lease,
        row["last_error"],
        row["result"],
        row["created_at"],
        row["updated_at"],
        row["finished_at"],
        report,
        row["concurrency_key"],
    )


def to_reported(row: Mapping[str, Any]) -> ReportedTask:
    """A row of `queries.REPORTED_COLUMNS`: a report's answer (ADR 0037)."""
    return ReportedTask(
        row["id"],
        row["queue"],
        row["type"],
        _STATES[row["state"]],
        row["attempts"],
        row["epoch"],
        row["last_error"],
        row["updated_at"],
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


def enqueue_params(specs: Sequence[TaskSpec], payloads: str, ids: Sequence[UUID]) -> dict[str, Any]:
    """The input columns of queries.ENQUEUE: the payloads as one JSON array; for each other
    column, the array of the specs' values (`each_<column>`), or NULL and the one value
    every spec has (`all_<column>`)."""
    params: dict[str, Any] = {"each_id": list(ids), "payloads": payloads}
    numbers: dict[int, tuple[float, float, float, float]] = {}  # per policy object
    for s in specs:
        p = s.retry_policy
        if id(p) not in numbers:
            numbers[id(p)] = _policy_numbers(p)
    rows = [_columns(s, numbers[id(s.retry_policy)]) for s in specs]
    columns = [list(column) for column in zip(*rows, strict=True)] or [[]] * (
        len(ENQUEUE_INPUT) - 2
    )
    for (column, _), values in zip(ENQUEUE_INPUT[2:], columns, strict=True):
        if _one_value(values):
            params[f"each_{column}"], params[f"all_{column}"] = None, values[0]
        else:
            params[f"each_{column}"], params[f"all_{column}"] = values, None
    return params


def enqueue_params_each(
    spec: TaskSpec, payloads: str, ids: Sequence[UUID], keys: Sequence[str] | None = None
) -> dict[str, Any]:
    """`enqueue_params` of one spec per payload: every column but id and payload (and
    the idempotency key, when `keys` gives one per task) is the spec's one value."""
    params: dict[str, Any] = {"each_id": list(ids), "payloads": payloads}
    values = _columns(spec, _policy_numbers(spec.retry_policy))
    for (column, _), value in zip(ENQUEUE_INPUT[2:], values, strict=True):
        params[f"each_{column}"], params[f"all_{column}"] = None, value
    if keys is not None:
        params["each_idempotency_key"], params["all_idempotency_key"] = list(keys), None
    return params


def _policy_numbers(p: RetryPolicy) -> tuple[float, float, float, float]:
    return (float(p.base_seconds), float(p.factor), float(p.max_seconds), float(p.jitter))


def _columns(s: TaskSpec, policy: tuple[float, float, float, float]) -> tuple[Any, ...]:
    """A spec's input columns after id and payload, in ENQUEUE_INPUT order."""
    labels = _LABELS(s.labels) if s.labels else "{}"
    return (s.queue, s.type, s.type_version, labels, s.priority, s.run_at, micros(s.delay),
            s.max_attempts, *policy, s.idempotency_key, s.concurrency_key)  # fmt: skip


def _one_value(values: list[Any]) -> bool:
    """Every value the same, exactly (a zero float may hide a -0.0 that == calls equal)."""
    first = values[0] if values else 0.0
    return values.count(first) == len(values) and not (isinstance(first, float) and not first)


# Labels are validated str -> str (jsonb keeps no formatting): one reusable encoder.
_LABELS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def micros(delay: timedelta | None) -> int | None:
    """A duration as whole microseconds (timedelta's own resolution), so SQL adds it exactly."""
    if delay is None:
        return None
    return (delay.days * 86_400 + delay.seconds) * 1_000_000 + delay.microseconds
