"""Every state transition of a task, each a pure function of the task, the request and `now`.

Adapters apply these (the memory store) or re-implement them in one SQL statement each
(the PostgreSQL store); the model-based contract tests hold both to this module.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from uuid import UUID

from attrs import evolve

from leaseq.domain import repeats
from leaseq.domain.errors import (
    InvalidTransition,
    LeaseConflict,
    LeaseExpired,
    LeaseLost,
    TaskCancelled,
)
from leaseq.domain.lease import Lease
from leaseq.domain.repeats import ReportRepeated, record_of
from leaseq.domain.task import JSON, Task, TaskSpec, TaskState

EXPIRED_ERROR = "lease expired before the worker reported a result"


def new_task(spec: TaskSpec, *, task_id: UUID, now: datetime) -> Task:
    """enqueue: a validated spec becomes a pending task, ready at `run_at`, else at
    `now + delay`, else at once."""
    return Task(
        id=task_id,
        queue=spec.queue,
        type=spec.type,
        type_version=spec.type_version,
        payload=spec.payload,
        labels=dict(spec.labels),
        priority=spec.priority,
        run_at=_run_at(spec, now),
        attempts=0,
        max_attempts=spec.max_attempts,
        retry_policy=spec.retry_policy,
        idempotency_key=spec.idempotency_key,
        state=TaskState.PENDING,
        epoch=0,
        lease=None,
        last_error=None,
        result=None,
        created_at=now,
        updated_at=now,
        finished_at=None,
        concurrency_key=spec.concurrency_key,
    )


def _run_at(spec: TaskSpec, now: datetime) -> datetime:
    if spec.run_at is not None:
        return spec.run_at
    return now if spec.delay is None else now + spec.delay


def grant(
    task: Task,
    *,
    now: datetime,
    owner: str,
    token: str,
    lease_for: timedelta,
    request_id: str | None = None,
) -> Task:
    """lease: pending and due → leased; attempts += 1, epoch += 1, a fresh token; the
    lease remembers the lease request (`request_id`) it was granted to.

    A task holding an expired lease must pass through `expire` first.
    Raises InvalidTransition when the task is not ready.
    """
    if not task.is_ready(now):
        raise InvalidTransition(task.id, "lease", _state_name(task, now))
    epoch = task.epoch + 1
    return evolve(
        task,
        state=TaskState.LEASED,
        attempts=task.attempts + 1,
        epoch=epoch,
        lease=Lease(
            owner=owner,
            token=token,
            epoch=epoch,
            expires_at=now + lease_for,
            request_id=request_id,
        ),
        updated_at=now,
    )


def check_fence(task: Task, token: str, now: datetime) -> Lease:
    """The gate of every fenced call. Returns the live lease that `token` proves.

    Raises TaskCancelled when the task was cancelled, LeaseLost when the token is not
    the task's current lease (wrong, superseded, or the task already finished), and
    LeaseExpired when it is, but the lease ran out (`expires_at <= now`).
    """
    if task.state is TaskState.CANCELLED:
        raise TaskCancelled(task.id)
    lease = task.lease
    if lease is None or not hmac.compare_digest(lease.token.encode(), token.encode()):
        raise LeaseLost(task.id)
    if not lease.is_live(now):
        raise LeaseExpired(task.id)
    if task.state is not TaskState.LEASED:
        raise LeaseLost(task.id)
    return lease


def heartbeat(task: Task, *, token: str, now: datetime, lease_for: timedelta) -> Task:
    """Extends a live lease to `now + lease_for`. Raises as `check_fence`."""
    lease = check_fence(task, token, now)
    return evolve(task, lease=evolve(lease, expires_at=now + lease_for), updated_at=now)


def check_report(task: Task, token: str, now: datetime, report_fingerprint: str) -> Lease:
    """The gate of every report (complete, retry, fail, release): `check_fence`, except
    that a repeat of the report that ended the task's most recent report-ended lease
    raises ReportRepeated, carrying the task as that report left it (the first answer)."""
    try:
        return check_fence(task, token, now)
    except LeaseConflict:
        repeated = repeats.repeated_report(task, report_fingerprint)
        if repeated is not None:
            raise ReportRepeated(repeated) from None
        raise


def _reported(report_fingerprint: str, after: Task) -> Task:
    return evolve(after, last_report=record_of(report_fingerprint, after))


def complete(task: Task, *, token: str, now: datetime, result: JSON = None) -> Task:
    """leased → succeeded, storing the result. Raises as `check_report`."""
    sealed = repeats.fingerprint(token, repeats.COMPLETE, result)
    check_report(task, token, now, sealed)
    return _reported(sealed, _finish(task, TaskState.SUCCEEDED, now, result=result))


def retry(
    task: Task,
    *,
    token: str,
    now: datetime,
    error: str,
    delay: timedelta | None,
    jitter_draw: float,
) -> Task:
    """leased → pending at `now + delay` (the handler's, else the policy's backoff),
    or → dead when the attempts are used up. Raises as `check_report`."""
    sealed = repeats.fingerprint(token, repeats.RETRY, repeats.retry_content(error, delay))
    check_report(task, token, now, sealed)
    if task.attempts >= task.max_attempts:
        return _reported(sealed, _finish(task, TaskState.DEAD, now, last_error=error))
    if delay is None:
        delay = task.retry_policy.delay(task.attempts, jitter_draw)
    pending = evolve(
        task,
        state=TaskState.PENDING,
        run_at=now + delay,
        lease=None,
        last_error=error,
        updated_at=now,
    )
    return _reported(sealed, pending)


def fail(task: Task, *, token: str, now: datetime, error: str) -> Task:
    """leased → dead with the error (a fatal failure). Raises as `check_report`."""
    sealed = repeats.fingerprint(token, repeats.FAIL, error)
    check_report(task, token, now, sealed)
    return _reported(sealed, _finish(task, TaskState.DEAD, now, last_error=error))


def release(task: Task, *, token: str, now: datetime) -> Task:
    """leased → pending, ready at once and keeping its place; the attempt is given back.
    Raises as `check_report`."""
    sealed = repeats.fingerprint(token, repeats.RELEASE)
    check_report(task, token, now, sealed)
    pending = evolve(
        task,
        state=TaskState.PENDING,
        attempts=max(0, task.attempts - 1),
        lease=None,
        updated_at=now,
    )
    return _reported(sealed, pending)


def expire(task: Task, *, now: datetime) -> Task:
    """leased with `expires_at <= now` → pending (ready from the expiry instant), or →
    dead when the attempts are used up. The expired lease stays on record so that its
    holder's late calls are refused as LeaseExpired. Raises InvalidTransition otherwise."""
    if not task.lease_is_due_to_expire(now):
        raise InvalidTransition(task.id, "expire", _state_name(task, now))
    assert task.lease is not None
    if task.attempts >= task.max_attempts:
        return evolve(
            task,
            state=TaskState.DEAD,
            last_error=EXPIRED_ERROR,
            finished_at=now,
            updated_at=now,
        )
    return evolve(
        task,
        state=TaskState.PENDING,
        run_at=task.lease.expires_at,
        last_error=EXPIRED_ERROR,
        updated_at=now,
    )


def cancel(task: Task, *, now: datetime) -> Task:
    """pending or leased → cancelled; a lease is revoked at once (its holder's next call
    is refused as TaskCancelled). Raises InvalidTransition from a terminal state."""
    if task.state not in (TaskState.PENDING, TaskState.LEASED):
        raise InvalidTransition(task.id, "cancel", task.state.value)
    return _finish(task, TaskState.CANCELLED, now)


def requeue(task: Task, *, now: datetime) -> Task:
    """dead or cancelled → pending, ready at once, attempts reset to 0 (redrive).
    Raises InvalidTransition from any other state."""
    if task.state not in (TaskState.DEAD, TaskState.CANCELLED):
        raise InvalidTransition(task.id, "requeue", task.state.value)
    return evolve(
        task,
        state=TaskState.PENDING,
        attempts=0,
        run_at=now,
        lease=None,
        result=None,
        finished_at=None,
        updated_at=now,
    )


def _finish(
    task: Task,
    state: TaskState,
    now: datetime,
    *,
    result: JSON = None,
    last_error: str | None = None,
) -> Task:
    return evolve(
        task,
        state=state,
        lease=None,
        result=result,
        last_error=last_error if last_error is not None else task.last_error,
        finished_at=now,
        updated_at=now,
    )


def _state_name(task: Task, now: datetime) -> str:
    if task.lease_is_due_to_expire(now):
        return "leased (expired)"
    if task.state is TaskState.PENDING and task.run_at > now:
        return "pending (scheduled)"
    return task.state.value
