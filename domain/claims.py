"""Which tasks a lease request may claim, and in what order: the claim rule, written once.

The memory store and the model of the contract tests apply `plan_claim` (and, on a queue
with flow-control limits, `plan_limited_claim`) itself; the
PostgreSQL store restates it in SQL (`adapters/postgres/queries.py`, LEASE), and
`tests/contract/test_store_rules.py` pins that restatement to this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from attrs import field, frozen

from leaseq.domain import validation as v
from leaseq.domain.limits import UNKEYED, Candidate, FlowState, count_live, plan_flow
from leaseq.domain.task import Task, TaskState


@frozen
class TypeFilter:
    """A (type, version) pair a worker can handle."""

    type: str
    version: int


def _type_filters(value: Iterable[TypeFilter] | None) -> tuple[TypeFilter, ...] | None:
    return None if value is None else tuple(value)


@frozen
class LeaseRequest:
    """Ask for up to `limit` ready tasks of `queue` (optionally only these types).

    `request_id` tags the leases granted (the worker's name for this request); `repeat`
    says the request was sent before under that id and its answer may have been lost
    (`leaseq.domain.repeats.granted_to`).
    """

    queue: str
    owner: str
    limit: int
    lease_for: timedelta
    types: tuple[TypeFilter, ...] | None = field(default=None, converter=_type_filters)
    request_id: str | None = None
    repeat: bool = False


@frozen
class ClaimPlan:
    """What one lease request does: `exhausted` (expired leases with no attempts left, in
    scope) go dead; `granted` (claimable, in claim order, at most the limit) are leased."""

    exhausted: list[Task]
    granted: list[Task]


def check_lease_request(request: LeaseRequest, limits: v.Limits = v.DEFAULT_LIMITS) -> None:
    """Refuse a malformed lease request (ValidationError naming the field)."""
    v.check_name("queue", request.queue)
    v.check_owner(request.owner, limits)
    v.check_request_id(request.request_id, limits)
    v.check_int("max_tasks", request.limit, 1, limits.max_batch)
    v.check_lease_for(request.lease_for, limits)
    for pair in request.types or ():
        v.check_name("types.type", pair.type)
        v.check_int("types.version", pair.version, limits.min_type_version, limits.max_type_version)


def in_scope(task: Task, request: LeaseRequest) -> bool:
    """The task belongs to the request's queue and, when types are listed, to one of them."""
    if task.queue != request.queue:
        return False
    return request.types is None or TypeFilter(task.type, task.type_version) in request.types


def is_claimable(task: Task, now: datetime) -> bool:
    """A lease may be granted now: ready, or holding an expired lease with attempts left."""
    if task.is_ready(now):
        return True
    return task.lease_is_due_to_expire(now) and task.attempts < task.max_attempts


def is_exhausted(task: Task, now: datetime) -> bool:
    """Its lease expired and no attempt is left: the next claim in scope sends it dead."""
    return task.lease_is_due_to_expire(now) and task.attempts >= task.max_attempts


def claim_order(task: Task) -> tuple[int, datetime, UUID]:
    """Higher priority first; ties FIFO by run_at, then id. An expired lease counts as
    ready from its expiry instant (that is the run_at `expire` gives it)."""
    ready_at = task.run_at
    if task.state is TaskState.LEASED and task.lease is not None:
        ready_at = task.lease.expires_at
    return (-task.priority, ready_at, task.id)


def plan_claim(tasks: Iterable[Task], request: LeaseRequest, now: datetime) -> ClaimPlan:
    """The claim rule: of `tasks` in the request's scope, which go dead and which are
    granted (in grant order)."""
    scoped = [t for t in tasks if in_scope(t, request)]
    exhausted = [t for t in scoped if is_exhausted(t, now)]
    claimable = sorted((t for t in scoped if is_claimable(t, now)), key=claim_order)
    return ClaimPlan(exhausted, claimable[: request.limit])


def candidate(task: Task) -> Candidate:
    """A claimable task as the flow rule (`limits.plan_flow`) sees it."""
    _, ready_at, _ = claim_order(task)
    key = UNKEYED if task.concurrency_key is None else task.concurrency_key
    return Candidate(task.id, task.priority, ready_at, key)


def plan_limited_claim(
    tasks: Iterable[Task], request: LeaseRequest, now: datetime, state: FlowState
) -> tuple[ClaimPlan, FlowState]:
    """The claim rule of a limited queue: the exhausted go dead as in `plan_claim`; the
    grants are the flow rule's choice among every claimable task in scope, given the
    queue's live leases (all its tasks, whatever the request's types); and the queue's
    flow state after the grants."""
    every = list(tasks)
    scoped = [t for t in every if in_scope(t, request)]
    exhausted = [t for t in scoped if is_exhausted(t, now)]
    claimable = {t.id: t for t in scoped if is_claimable(t, now)}
    live = count_live(
        t.concurrency_key for t in every if t.queue == request.queue and t.has_live_lease(now)
    )
    candidates = (candidate(t) for t in claimable.values())
    plan = plan_flow(candidates, live, state, limit=request.limit, now=now)
    return ClaimPlan(exhausted, [claimable[i] for i in plan.granted]), plan.state
