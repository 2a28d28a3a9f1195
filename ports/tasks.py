"""The task store port: the seam between the use cases and the database.

Every method is atomic. Methods that take `now` use it as the current instant when it is
given, so that tests can drive time; in production it is None and the store uses its own
clock (PostgreSQL's `now()` for the PostgreSQL store), so every replica agrees.
Inputs arrive validated by the caller (`leaseq.domain.validation`); stores still refuse
bad input with the same `ValidationError`, before anything is written.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from attrs import frozen

from leaseq.domain import (
    JSON,
    DomainError,
    Enqueued,
    NewTasks,
    ReportedTask,
    Task,
    TaskEvent,
    TaskSpec,
    TaskState,
)
from leaseq.domain.claims import LeaseRequest


@frozen
class Complete:
    task_id: UUID
    token: str
    result: JSON = None


@frozen
class Retry:
    task_id: UUID
    token: str
    error: str
    delay: timedelta | None = None
    jitter_draw: float = 0.0


@frozen
class Fail:
    task_id: UUID
    token: str
    error: str


Outcome = Complete | Retry | Fail


@frozen
class TaskFilter:
    """List filter; `cursor` is the `next_cursor` of the previous page (opaque)."""

    queue: str | None = None
    state: TaskState | None = None
    type: str | None = None
    limit: int = 100
    cursor: str | None = None


@frozen
class TaskPage:
    tasks: list[Task]
    next_cursor: str | None


@frozen
class QueueStats:
    """Counts per state and the age of the oldest ready task, in one queue; throughput as
    the tasks that succeeded or went dead in the minute before `now`; `live_leases`: the
    leases live at `now` (an expired one is not)."""

    queue: str
    counts: Mapping[TaskState, int]
    ready: int
    scheduled: int
    oldest_ready_age: timedelta | None
    succeeded_last_minute: int = 0
    dead_last_minute: int = 0
    live_leases: int = 0


class TaskStore(Protocol):
    """Stores tasks and applies the transitions of `leaseq.domain.transitions` atomically.

    Single-owner invariant: at any instant a task has at most one live lease, and only
    the current token, while its lease is live, may heartbeat, complete, retry, fail or
    release it. Every method may raise `StoreUnavailable` when the backend cannot answer.

    Repeated reports: complete, retry, fail and release raise ReportRepeated, carrying the
    task as the first call left it, instead of a refusal, when the call repeats the report
    that ended the task's most recent report-ended lease (`transitions.check_report`); a
    repeat changes nothing and records nothing.
    """

    async def enqueue(
        self, specs: Sequence[TaskSpec], *, now: datetime | None = None
    ) -> list[Enqueued]:
        """Create tasks in one atomic batch; answers in the order of `specs`.

        A spec whose (queue, idempotency_key) names a task that still exists returns that
        task with `deduplicated=True` and creates nothing (repeats within one batch too).
        Wakes lease waiters of each queue that received a ready task.
        Raises ValidationError (nothing of the batch is written).
        """
        ...

    async def enqueue_each(
        self, spec: TaskSpec, payloads: Sequence[JSON], *, now: datetime | None = None
    ) -> NewTasks:
        """`enqueue` of one spec per payload, each `spec` with that payload (`spec.payload`
        is not used), answered column-wise: the same checks, the same first refusal, the
        same tasks, history and wake-ups. `spec` carries no idempotency key (a key names
        one task; ValidationError), so every task is new.
        """
        ...

    async def enqueue_keyed(
        self,
        spec: TaskSpec,
        payloads: Sequence[JSON],
        keys: Sequence[str],
        *,
        now: datetime | None = None,
    ) -> Sequence[Enqueued]:
        """`enqueue` of one spec per (payload, key), each `spec` with that payload and that
        idempotency key (`spec.payload` and `spec.idempotency_key` are not used): the same
        checks, first refusal, tasks, deduplication, history and wake-ups. Answered
        column-wise (`NewTasks`, with the keys) when every task is new, which is what a
        producer's batch nearly always is (the SDK gives every task a key, ADR 0021).
        """
        ...

    async def lease(self, request: LeaseRequest, *, now: datetime | None = None) -> list[Task]:
        """Grant up to `request.limit` claimable tasks of the queue, in claim order
        (`leaseq.domain.claims.plan_claim`): priority descending, then run_at, then
        id. Claimable: pending with run_at <= now, or leased with an expired lease and
        attempts left (it passes through `expire`, so it is ordered by its expiry
        instant). Only the listed (type, version) pairs when `types` is given.

        First, every task of the queue (of the listed types) whose lease expired with no
        attempts left goes dead. Each granted task has a fresh token, epoch + 1,
        attempts + 1 and `expires_at = now + lease_for`, and its lease remembers
        `request.request_id`. Never grants one task twice, even to concurrent callers.

        A `repeat` request answers, instead, the tasks of the queue (of the listed types)
        whose live lease was granted to this owner's `request_id`
        (`leaseq.domain.repeats.granted_to`), as they stand, in `repeats.grant_order`,
        when there are any; it grants nothing more then. Raises ValidationError.
        """
        ...

    async def heartbeat(
        self, task_id: UUID, token: str, *, lease_for: timedelta, now: datetime | None = None
    ) -> Task:
        """Extend the live lease to now + lease_for.

        Raises TaskNotFound, TaskCancelled, LeaseLost, LeaseExpired.
        """
        ...

    async def complete(
        self, task_id: UUID, token: str, result: JSON = None, *, now: datetime | None = None
    ) -> Task:
        """leased → succeeded. Raises TaskNotFound, TaskCancelled, LeaseLost, LeaseExpired,
        ValidationError (result)."""
        ...

    async def retry(
        self,
        task_id: UUID,
        token: str,
        error: str,
        *,
        delay: timedelta | None = None,
        jitter_draw: float = 0.0,
        now: datetime | None = None,
    ) -> Task:
        """leased → pending at now + delay (else the policy's backoff), or dead when the
        attempts are used up. Raises TaskNotFound, TaskCancelled, LeaseLost, LeaseExpired."""
        ...

    async def fail(
        self, task_id: UUID, token: str, error: str, *, now: datetime | None = None
    ) -> Task:
        """leased → dead. Raises TaskNotFound, TaskCancelled, LeaseLost, LeaseExpired."""
        ...

    async def release(self, task_id: UUID, token: str, *, now: datetime | None = None) -> Task:
        """leased → pending without consuming the attempt.
        Raises TaskNotFound, TaskCancelled, LeaseLost, LeaseExpired."""
        ...

    async def report(
        self,
        outcomes: Sequence[Outcome],
        *,
        with_tasks: bool = False,
        now: datetime | None = None,
    ) -> list[ReportedTask | DomainError]:
        """Apply many complete/retry/fail outcomes at once; answers in order, each the
        task as the outcome left it (`ReportedTask`, carrying the whole task only
        `with_tasks`, ADR 0037) or the DomainError that one call alone would have raised
        (ReportRepeated included). One outcome's refusal does not affect the others."""
        ...

    async def report_and_lease(
        self,
        outcomes: Sequence[Outcome],
        request: LeaseRequest,
        *,
        with_tasks: bool = False,
        now: datetime | None = None,
    ) -> tuple[list[ReportedTask | DomainError], list[Task]]:
        """`report(outcomes)`, then `lease(request)`, as one transaction where the store
        can (ADR 0033): the worker's finished tasks and its next claim in one call. A lease
        request that is refused (ValidationError) applies no outcome either."""
        ...

    async def cancel(self, task_id: UUID, *, now: datetime | None = None) -> Task:
        """pending or leased → cancelled. Raises TaskNotFound, InvalidTransition."""
        ...

    async def requeue(self, task_id: UUID, *, now: datetime | None = None) -> Task:
        """dead or cancelled → pending, attempts 0, ready at once.
        Raises TaskNotFound, InvalidTransition."""
        ...

    async def get(self, task_id: UUID) -> Task:
        """The task as it is stored. Raises TaskNotFound."""
        ...

    async def list(self, filter: TaskFilter) -> TaskPage:
        """Tasks matching the filter, oldest first (by id), `filter.limit` at most.
        Raises ValidationError for a malformed cursor or limit."""
        ...

    async def history(self, task_id: UUID, *, limit: int = 100) -> builtins.list[TaskEvent]:
        """The task's most recent `limit` transitions, oldest first, in the order they
        happened (heartbeats are not recorded). Written atomically with each transition
        and deleted with the task when it is pruned. Raises TaskNotFound, ValidationError
        (limit outside 1..1000)."""
        ...

    async def stats(
        self, queue: str | None = None, *, now: datetime | None = None
    ) -> builtins.list[QueueStats]:
        """Per-queue counts, sorted by queue name (code point order); one queue, or every
        queue with tasks."""
        ...

    async def expire_due(self, *, limit: int, now: datetime | None = None) -> int:
        """The expiry sweep: apply `expire` to at most `limit` tasks whose lease ran out.
        Returns how many it moved. Safe to run from several replicas at once."""
        ...

    async def prune(self, *, retention: timedelta, limit: int, now: datetime | None = None) -> int:
        """Delete at most `limit` finished tasks (succeeded, dead, cancelled) whose
        finished_at lies more than `retention` before now (the store's clock, like every
        other instant). Returns how many were deleted. Raises ValidationError."""
        ...

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
