"""Repeated calls: a report or a lease request sent again because its answer was lost.

A client that sent a report (complete, retry, fail, release) and lost the answer cannot
know whether the service applied it. So it sends the same report again, and the service
must answer that repeat as it answered the first: the report ended the lease, so a plain
fence check would refuse the repeat as `lease_lost`. The task keeps a record of the report
that ended its most recent report-ended lease (`ReportRecord`: a fingerprint of the
report, and the fields of the task it left that later transitions may change), and
`repeated_report` tells a repeat of that report from any other call with a spent token.

A lease request is tagged with a request id; the lease it grants remembers it, and a
repeat of the request (`granted_to`) is answered with those grants while they are live.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta

from attrs import evolve

from leaseq.domain.errors import DomainError
from leaseq.domain.task import JSON, ReportRecord, Task, TaskState

# The outcomes a report may carry (the fenced calls that end a lease).
COMPLETE, RETRY, FAIL, RELEASE = "complete", "retry", "fail", "release"


def record_of(report_fingerprint: str, after: Task) -> ReportRecord:
    """The record of a report that made the task `after`."""
    return ReportRecord(
        report_fingerprint,
        after.state,
        after.updated_at,
        after.epoch,
        after.attempts,
        after.run_at,
        after.last_error,
    )


class ReportRepeated(DomainError):
    """The call repeats the report that ended the task's lease: not a refusal, but the
    first call's answer again. `task` is the task as that report left it."""

    code = "report_repeated"

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id}: this report was already applied")
        self.task = task


def fingerprint(token: str, outcome: str, content: JSON = None) -> str:
    """What identifies a report: its token, its outcome and what it carries (complete:
    the result; retry: the error and the delay in microseconds or None; fail: the error;
    release: nothing), as a hash. JSON values compare as values (object key order does
    not matter); a token is never stored in the clear beside the task's record."""
    if content is None:  # most reports (a handler returning None, a release)
        canonical = _BARE.get(outcome) or _canonical(outcome, None)
    else:
        canonical = _canonical(outcome, content)
    sealed = token.encode("utf-8", "surrogatepass") + b"\0" + canonical
    return hashlib.blake2b(sealed, digest_size=16).hexdigest()


def _canonical(outcome: str, content: JSON) -> bytes:
    text = json.dumps([outcome, content], sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.encode()


_BARE = {outcome: _canonical(outcome, None) for outcome in (COMPLETE, RETRY, FAIL, RELEASE)}


def retry_content(error: str, delay: timedelta | None) -> JSON:
    """The content of a retry report, for `fingerprint`."""
    if delay is None:
        return [error, None]
    micros = (delay.days * 86_400 + delay.seconds) * 1_000_000 + delay.microseconds
    return [error, micros]


def repeated_report(task: Task, report_fingerprint: str) -> Task | None:
    """The task as the report left it, when `report_fingerprint` is that of the report
    that ended the task's most recent report-ended lease; else None.

    The answer is the same whether or not the task has moved on since (leased again,
    requeued, cancelled): the record keeps every field a later transition may change.
    """
    record = task.last_report
    if record is None or not hmac.compare_digest(record.fingerprint, report_fingerprint):
        return None
    terminal = record.state.is_terminal
    return evolve(
        task,
        state=record.state,
        run_at=record.run_at,
        attempts=record.attempts,
        epoch=record.epoch,
        lease=None,
        last_error=record.last_error,
        result=task.result if record.state is TaskState.SUCCEEDED else None,
        updated_at=record.at,
        finished_at=record.at if terminal else None,
    )


def granted_to(task: Task, *, owner: str, request_id: str | None, now: datetime) -> bool:
    """The task's live lease was granted to `owner`'s lease request `request_id`: a repeat
    of that request is answered with it again (same token, epoch and expiry)."""
    lease = task.lease
    return (
        request_id is not None
        and task.state is TaskState.LEASED
        and lease is not None
        and lease.is_live(now)
        and lease.owner == owner
        and lease.request_id == request_id
    )


def grant_order(task: Task) -> tuple[int, datetime, object]:
    """The order in which a repeat answers its grants: priority descending, then run_at,
    then id (the claim order the grants were made in)."""
    return (-task.priority, task.run_at, task.id)
