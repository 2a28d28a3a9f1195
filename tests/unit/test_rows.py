"""`to_task` and `to_reported` build their values from a row positionally
(adapters/postgres/rows.py, for speed): each field must get its own column, whatever the
order of the classes' fields."""

from __future__ import annotations

import attrs

from leaseq.adapters.postgres.queries import REPORTED_COLUMNS
from leaseq.adapters.postgres.rows import to_reported, to_task
from leaseq.domain import Lease, ReportedTask, ReportRecord, Task, TaskState

# The fields that are not a column of their own name: the column each one is read from.
TASK_COLUMNS = {"retry_policy": None, "lease": None, "last_report": None}
LEASE_COLUMNS = {
    "owner": "lease_owner",
    "token": "lease_token",
    "epoch": "epoch",
    "expires_at": "lease_expires_at",
    "request_id": "lease_request",
}
REPORT_COLUMNS = {
    "fingerprint": "report_fingerprint",
    "state": "report_state",
    "at": "report_at",
    "epoch": "report_epoch",
    "attempts": "report_attempts",
    "run_at": "report_run_at",
    "last_error": "report_last_error",
}
POLICY_COLUMNS = {
    "base_seconds": "retry_base",
    "factor": "retry_factor",
    "max_seconds": "retry_max",
    "jitter": "retry_jitter",
}


def a_row() -> dict[str, object]:
    """A row in which every column holds a value no other column holds."""
    columns = [f.name for f in attrs.fields(Task) if f.name not in TASK_COLUMNS]
    columns += [*LEASE_COLUMNS.values(), *REPORT_COLUMNS.values()]
    row: dict[str, object] = {column: f"<{column}>" for column in columns}
    row |= {"state": "leased", "report_state": "pending"}  # read as TaskState
    row |= {"retry_base": 1.5, "retry_factor": 2.5, "retry_max": 3600.5, "retry_jitter": 0.25}
    return row


def test_every_task_field_is_read_from_its_own_column() -> None:
    row = a_row()
    task = to_task(row)
    for field in attrs.fields(Task):
        if field.name in TASK_COLUMNS:
            continue
        expected = row[field.name]
        if field.name == "state":
            expected = TaskState(expected)
        assert getattr(task, field.name) == expected, field.name
    for name, column in POLICY_COLUMNS.items():
        assert getattr(task.retry_policy, name) == row[column], name


def test_the_lease_and_the_last_report_are_read_from_their_columns() -> None:
    row = a_row()
    task = to_task(row)
    assert isinstance(task.lease, Lease) and isinstance(task.last_report, ReportRecord)
    assert {f.name for f in attrs.fields(Lease)} == set(LEASE_COLUMNS)
    for name, column in LEASE_COLUMNS.items():
        assert getattr(task.lease, name) == row[column], name
    assert {f.name for f in attrs.fields(ReportRecord)} == set(REPORT_COLUMNS)
    for name, column in REPORT_COLUMNS.items():
        expected = row[column]
        if name == "state":
            expected = TaskState(expected)
        assert getattr(task.last_report, name) == expected, name


def test_no_lease_and_no_report_when_their_columns_are_null() -> None:
    row = a_row() | {"lease_token": None, "report_fingerprint": None}
    task = to_task(row)
    assert task.lease is None and task.last_report is None


def test_a_reported_row_gives_each_field_its_own_column() -> None:
    """The columns REPORT_BRIEF answers (ADR 0037): one per field of a ReportedTask but
    `task`, read from the column of the same name."""
    columns = [c.strip().removeprefix("u.") for c in REPORTED_COLUMNS.split(",")]
    fields = [f.name for f in attrs.fields(ReportedTask) if f.name != "task"]
    assert sorted(columns) == sorted(["n", *fields])
    row: dict[str, object] = {column: f"<{column}>" for column in columns} | {"state": "dead"}
    reported = to_reported(row)
    for name in fields:
        expected = TaskState(row[name]) if name == "state" else row[name]
        assert getattr(reported, name) == expected, name
    assert reported.task is None
