"""Store contract: each rule of the lease model against an oracle, on every store, at its
boundaries, through every call that applies it (the single calls and the batch `report`
the SDK worker sends).

Two kinds of oracle, on purpose:
- the rule written out here, independently of the code (the retry delay is
  min(cap, base * factor ** (attempt - 1)) shrunk by at most the jitter; a lease is live
  strictly before `expires_at`; ...), so that a change of the rule itself is caught;
- the domain's own function applied to the store's row as it was before the call
  (`transitions.retry`, `check_fence`, `claims.plan_claim`, `RetryPolicy.delay`), so that
  the PostgreSQL store's restatement of each rule in SQL cannot drift from the domain.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from leaseq.domain import (
    DomainError,
    LeaseExpired,
    LeaseLost,
    ReportedTask,
    RetryPolicy,
    Task,
    TaskCancelled,
    TaskState,
    ValidationError,
    claims,
)
from leaseq.domain import transitions as tr
from leaseq.ports import Complete, Fail, LeaseRequest, Outcome, Retry, TaskFilter, TaskStore
from tests.contract.steps import LEASE_FOR, add, take, take_one
from tests.support import FakeClock, spec

MICRO = timedelta(microseconds=1)
POLICY = RetryPolicy(base_seconds=2.0, factor=3.0, max_seconds=60.0, jitter=0.5)
DRAWS = [0.0, 0.5, 0.999999]


def outcome(kind: str, task_id: UUID, token: str, *, delay: timedelta | None = None) -> Outcome:
    if kind == "complete":
        return Complete(task_id, token, {"ok": True})
    if kind == "retry":
        return Retry(task_id, token, "boom", delay=delay)
    return Fail(task_id, token, "fatal")


async def reported(store: TaskStore, one: Outcome, at: datetime) -> Task:
    """`report` of one outcome: the task as it left it, or the refusal raised as a single
    call would. Its answer (ADR 0037) must be the stored task's."""
    [answer] = await store.report([one], now=at)
    if isinstance(answer, DomainError):
        raise answer
    task = await store.get(answer.id)
    assert answer == ReportedTask.of(task)
    return task


async def retried(
    store: TaskStore, via: str, task_id: UUID, token: str, at: datetime, **how: object
) -> Task:
    """A retry through `store.retry` or through the batch `store.report`."""
    delay = how.get("delay")
    draw = float(how.get("draw", 0.0))  # type: ignore[arg-type]
    assert delay is None or isinstance(delay, timedelta)
    if via == "retry":
        return await store.retry(task_id, token, "boom", delay=delay, jitter_draw=draw, now=at)
    return await reported(store, Retry(task_id, token, "boom", delay=delay, jitter_draw=draw), at)


def verdict(call: object) -> str:
    return type(call).__name__ if isinstance(call, DomainError) else "accepted"


vias = pytest.mark.parametrize("via", ["retry", "report"])
kinds = pytest.mark.parametrize("kind", ["complete", "retry", "fail"])


# -- the retry delay: policy(attempt) within the jitter and the cap ----------------------


def policy_bounds(policy: RetryPolicy, attempt: int) -> tuple[float, float]:
    """The rule, written out: the raw backoff capped, and the jitter only shortens it."""
    raw = min(policy.max_seconds, policy.base_seconds * policy.factor ** (attempt - 1))
    return raw * (1.0 - policy.jitter), raw


@vias
@pytest.mark.parametrize("draw", DRAWS)
async def test_a_retry_without_a_delay_waits_the_policys_backoff_for_each_attempt_up_to_the_cap(
    store: TaskStore, clock: FakeClock, via: str, draw: float
) -> None:
    task = await add(store, clock, retry_policy=POLICY, max_attempts=10)
    for attempt in range(1, 7):  # raw backoff 2, 6, 18, 54, then the cap 60, 60
        granted, token = await take_one(store, clock)
        assert granted.attempts == attempt
        before = await store.get(task.id)
        again = await retried(store, via, task.id, token, clock.now(), draw=draw)
        waited = (again.run_at - clock.now()).total_seconds()
        low, high = policy_bounds(POLICY, attempt)
        assert low - 0.001 <= waited <= high, f"attempt {attempt}: waited {waited} s"
        exact = low + (high - low) * draw  # floored to whole milliseconds
        assert waited == math.floor(exact * 1000) / 1000
        # the SQL restatement of the backoff agrees with the domain's
        assert again.run_at == clock.now() + POLICY.delay(attempt, draw)
        assert again == tr.retry(
            before, token=token, now=clock.now(), error="boom", delay=None, jitter_draw=draw
        )
        clock.advance(again.run_at - clock.now())


@vias
async def test_a_retry_backoff_stops_growing_at_the_cap(
    store: TaskStore, clock: FakeClock, via: str
) -> None:
    week = 7 * 24 * 3600.0
    policy = RetryPolicy(base_seconds=1000.0, factor=100.0, max_seconds=week, jitter=0.1)
    task = await add(store, clock, retry_policy=policy, max_attempts=10)
    waits = []
    for _ in range(4):  # raw backoff 1e3, 1e5, 1e7 (capped), 1e9 (capped)
        _, token = await take_one(store, clock)
        again = await retried(store, via, task.id, token, clock.now(), draw=0.999999)
        waits.append((again.run_at - clock.now()).total_seconds())
        clock.advance(again.run_at - clock.now())
    assert waits[0] < waits[1] < waits[2] == waits[3] <= week
    assert waits[2] > week * (1 - policy.jitter)


@vias
async def test_a_retry_with_a_delay_waits_exactly_that_delay_whatever_the_policy(
    store: TaskStore, clock: FakeClock, via: str
) -> None:
    task = await add(store, clock, retry_policy=POLICY)
    _, token = await take_one(store, clock)
    again = await retried(store, via, task.id, token, clock.now(), delay=timedelta(seconds=7))
    assert (again.state, again.run_at) == (TaskState.PENDING, clock.now() + timedelta(seconds=7))


# -- dead after max attempts -------------------------------------------------------------


@vias
@pytest.mark.parametrize("delay", [None, timedelta(seconds=5)])
async def test_a_retry_with_attempts_left_is_pending_and_on_the_last_attempt_is_dead(
    store: TaskStore, clock: FakeClock, via: str, delay: timedelta | None
) -> None:
    task = await add(store, clock, max_attempts=2, retry_policy=RetryPolicy(base_seconds=0))
    _, first = await take_one(store, clock)
    before = await store.get(task.id)
    again = await retried(store, via, task.id, first, clock.now(), delay=delay)
    assert (again.state, again.attempts, again.finished_at) == (TaskState.PENDING, 1, None)
    assert again == tr.retry(
        before, token=first, now=clock.now(), error="boom", delay=delay, jitter_draw=0.0
    )
    clock.advance(again.run_at - clock.now() + timedelta(seconds=1))
    _, second = await take_one(store, clock)
    before = await store.get(task.id)
    dead = await retried(store, via, task.id, second, clock.now(), delay=delay)
    assert (dead.state, dead.attempts, dead.finished_at) == (TaskState.DEAD, 2, clock.now())
    assert dead.run_at == before.run_at and dead.lease is None and dead.last_error == "boom"
    assert dead == tr.retry(
        before, token=second, now=clock.now(), error="boom", delay=delay, jitter_draw=0.0
    )
    assert await take(store, clock) == []


@pytest.mark.parametrize("sweep", ["expire_due", "lease"])
async def test_an_expiry_with_attempts_left_requeues_from_the_expiry_and_on_the_last_is_dead(
    store: TaskStore, clock: FakeClock, sweep: str
) -> None:
    task = await add(store, clock, max_attempts=2)
    await take_one(store, clock)
    clock.advance(LEASE_FOR + timedelta(seconds=3))
    before = await store.get(task.id)
    if sweep == "expire_due":
        assert await store.expire_due(limit=10, now=clock.now()) == 1
        again = await store.get(task.id)
        assert again == tr.expire(before, now=clock.now())
        assert (again.state, again.run_at) == (
            TaskState.PENDING,
            clock.now() - timedelta(seconds=3),
        )
    else:
        [regranted] = await take(store, clock)
        assert regranted.attempts == 2 and regranted.epoch == 2
    clock.advance(LEASE_FOR * 2)
    if sweep == "expire_due":
        await take_one(store, clock)
        clock.advance(LEASE_FOR)
        before = await store.get(task.id)
        assert await store.expire_due(limit=10, now=clock.now()) == 1
    else:
        before = await store.get(task.id)
        assert await take(store, clock) == []
    dead = await store.get(task.id)
    assert (dead.state, dead.attempts, dead.finished_at) == (TaskState.DEAD, 2, clock.now())
    assert dead == tr.expire(before, now=clock.now())


# -- the fence, on the batch report ------------------------------------------------------


async def in_situation(
    store: TaskStore, clock: FakeClock, situation: str
) -> tuple[Task, str, type[DomainError]]:
    """A task and a token that the fence must refuse, and the refusal it must give."""
    await add(store, clock)
    task, token = await take_one(store, clock)
    if situation == "wrong token":
        return task, "not-the-token", LeaseLost
    if situation == "stale token":
        clock.advance(LEASE_FOR)
        await take_one(store, clock)
        return await store.get(task.id), token, LeaseLost
    if situation == "expired exactly now":
        clock.advance(LEASE_FOR)
        return task, token, LeaseExpired
    if situation == "expired and swept":
        clock.advance(LEASE_FOR + timedelta(seconds=1))
        assert await store.expire_due(limit=10, now=clock.now()) == 1
        return await store.get(task.id), token, LeaseExpired
    if situation == "cancelled":
        return await store.cancel(task.id, now=clock.now()), token, TaskCancelled
    assert situation == "already succeeded"
    return await store.complete(task.id, token, now=clock.now()), token, LeaseLost


SITUATIONS = [
    "wrong token",
    "stale token",
    "expired exactly now",
    "expired and swept",
    "cancelled",
    "already succeeded",
]


@kinds
@pytest.mark.parametrize("situation", SITUATIONS)
async def test_report_refuses_every_outcome_the_fence_refuses_and_changes_nothing(
    store: TaskStore, clock: FakeClock, kind: str, situation: str
) -> None:
    task, token, refusal = await in_situation(store, clock, situation)
    stored = await store.get(task.id)
    with pytest.raises(refusal):
        tr.check_fence(stored, token, clock.now())  # the domain's verdict, the same
    [answer] = await store.report([outcome(kind, task.id, token)], now=clock.now())
    assert type(answer) is refusal, answer
    assert await store.get(task.id) == stored


@kinds
async def test_report_of_a_live_lease_one_microsecond_before_expiry_is_accepted(
    store: TaskStore, clock: FakeClock, kind: str
) -> None:
    await add(store, clock)
    task, token = await take_one(store, clock)
    clock.advance(LEASE_FOR - MICRO)
    answer = await reported(store, outcome(kind, task.id, token), clock.now())
    assert answer.state is not TaskState.LEASED and answer.updated_at == clock.now()


async def test_report_applies_the_live_outcomes_of_a_batch_and_refuses_the_expired_ones(
    store: TaskStore, clock: FakeClock
) -> None:
    await add(store, clock)
    late, late_token = await take_one(store, clock)
    clock.advance(10)
    await add(store, clock)
    live, live_token = await take_one(store, clock)
    clock.advance(LEASE_FOR - timedelta(seconds=10))  # late's lease ends now, live's later
    answers = await store.report(
        [Complete(late.id, late_token), Complete(live.id, live_token)], now=clock.now()
    )
    assert [verdict(a) for a in answers] == ["LeaseExpired", "accepted"]
    assert (await store.get(late.id)).state is TaskState.LEASED


# -- the expiry boundary: live strictly before expires_at ---------------------------------


FENCED = ["heartbeat", "complete", "retry", "fail", "release"]


async def fenced(store: TaskStore, call: str, task_id: UUID, token: str, at: datetime) -> Task:
    if call == "heartbeat":
        return await store.heartbeat(task_id, token, lease_for=LEASE_FOR, now=at)
    if call == "complete":
        return await store.complete(task_id, token, now=at)
    if call == "retry":
        return await store.retry(task_id, token, "boom", now=at)
    if call == "fail":
        return await store.fail(task_id, token, "fatal", now=at)
    return await store.release(task_id, token, now=at)


@pytest.mark.parametrize("call", FENCED)
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["before", "at", "after"])
async def test_a_fenced_call_agrees_with_the_domains_fence_at_the_expiry_instant(
    store: TaskStore, clock: FakeClock, call: str, offset: int
) -> None:
    await add(store, clock)
    task, token = await take_one(store, clock)
    assert task.lease is not None
    at = task.lease.expires_at + offset * MICRO
    rule = "accepted" if at < task.lease.expires_at else "LeaseExpired"  # written out
    domain = verdict(_fence(task, token, at))  # the domain's own function
    try:
        answer: object = await fenced(store, call, task.id, token, at)
    except DomainError as error:
        answer = error
    assert verdict(answer) == rule == domain


def _fence(task: Task, token: str, at: datetime) -> object:
    try:
        return tr.check_fence(task, token, at)
    except DomainError as error:
        return error


@pytest.mark.parametrize("offset", [-1, 0], ids=["before", "at"])
async def test_expire_due_and_lease_leave_a_lease_alone_until_exactly_its_expiry(
    store: TaskStore, clock: FakeClock, offset: int
) -> None:
    await add(store, clock)
    task, _ = await take_one(store, clock)
    assert task.lease is not None
    clock.advance(task.lease.expires_at + offset * MICRO - clock.now())
    due = task.lease_is_due_to_expire(clock.now())
    assert due is (offset == 0)
    regranted = await take(store, clock, owner="worker-2")
    assert [t.id for t in regranted] == ([task.id] if due else [])
    if not due:
        assert await store.expire_due(limit=10, now=clock.now()) == 0
        assert await store.get(task.id) == task


async def test_a_scheduled_task_is_ready_exactly_at_its_run_at(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock, run_at=clock.now() + timedelta(seconds=5))
    clock.advance(timedelta(seconds=5) - MICRO)
    assert await take(store, clock) == []
    clock.advance(MICRO)
    assert [t.id for t in await take(store, clock)] == [task.id]


# -- claim order, against the domain's claim rule ----------------------------------------


async def test_lease_grants_exactly_what_the_domains_claim_rule_plans_in_its_order(
    store: TaskStore, clock: FakeClock
) -> None:
    """A queue holding every kind of candidate at its boundary: priorities, run_at just
    before/at/after now, id ties, leases expiring just before/at/after now with and
    without attempts left, other types and queues. The store's grants and dead-letters
    must be the domain's plan, in order."""
    start = clock.now()
    held = claims.TypeFilter("held", 1)
    for priority, attempts in [(-1, 1), (0, 2), (1, 2), (0, 3), (-1, 3), (1, 1)]:
        await add(store, clock, type="held", priority=priority, max_attempts=attempts)
    for _ in range(6):  # one by one: the k-th lease ends at start + LEASE_FOR + k us
        await take(store, clock, limit=1, types=[held])
        clock.advance(MICRO)
    now = start + LEASE_FOR + 2 * MICRO  # leases 0..2 have expired (2 exactly now)
    for priority in (-1, 0, 1):
        for offset in (-1, 0, 0, 1):  # ready, ready (twice: an id tie), not yet
            await add(store, clock, priority=priority, run_at=now + offset * MICRO)
    await add(store, clock, type="other", priority=9)
    await add(store, clock, queue="elsewhere", priority=9)
    clock.advance(now - clock.now())
    wanted = [claims.TypeFilter("send_email", 1), held]
    request = LeaseRequest("emails", "claimer", 10, LEASE_FOR, wanted)
    before = (await store.list(TaskFilter(limit=1000))).tasks
    plan = claims.plan_claim(before, request, clock.now())
    assert plan.exhausted and len(plan.granted) == 10  # the scenario reaches every branch
    granted = await store.lease(request, now=clock.now())
    assert [t.id for t in granted] == [t.id for t in plan.granted]
    for gone in plan.exhausted:
        assert (await store.get(gone.id)).state is TaskState.DEAD
    # the rule written out: priority descending, then ready instant, then id
    keys = [(-t.priority, claims.claim_order(t)[1], t.id) for t in plan.granted]
    assert keys == sorted(keys)


async def test_ties_of_priority_and_run_at_go_by_id(store: TaskStore, clock: FakeClock) -> None:
    at = clock.now() - timedelta(seconds=1)
    first, second, third = [await add(store, clock, run_at=at) for _ in range(3)]
    assert first.id < second.id < third.id
    granted = await take(store, clock, limit=3)
    assert [t.id for t in granted] == [first.id, second.id, third.id]


# -- cancel of a leased task -------------------------------------------------------------


async def test_cancel_of_a_leased_task_revokes_it_for_every_call_and_the_report(
    store: TaskStore, clock: FakeClock
) -> None:
    await add(store, clock)
    task, token = await take_one(store, clock)
    cancelled = await store.cancel(task.id, now=clock.now())
    assert (cancelled.state, cancelled.lease, cancelled.finished_at) == (
        TaskState.CANCELLED,
        None,
        clock.now(),
    )
    for call in FENCED:
        with pytest.raises(TaskCancelled):
            await fenced(store, call, task.id, token, clock.now())
    answers = await store.report(
        [outcome(kind, task.id, token) for kind in ("complete", "retry", "fail")],
        now=clock.now(),
    )
    assert [verdict(a) for a in answers] == ["TaskCancelled"] * 3
    assert await take(store, clock) == []
    assert await store.get(task.id) == cancelled


# -- enqueue with a delay: from the store's own clock ------------------------------------


async def test_an_enqueue_delay_counts_from_the_stores_now(
    store: TaskStore, clock: FakeClock
) -> None:
    [answer] = await store.enqueue([spec(delay=timedelta(seconds=90))], now=clock.now())
    stored = await store.get(answer.task.id)
    assert stored.run_at == stored.created_at + timedelta(seconds=90) == answer.task.run_at
    clock.advance(timedelta(seconds=90) - MICRO)
    assert await take(store, clock) == []
    clock.advance(MICRO)
    assert [t.id for t in await take(store, clock)] == [stored.id]


@pytest.mark.parametrize(
    "fields",
    [
        {"delay": timedelta(seconds=-1)},
        {"delay": timedelta(days=400)},
        {"delay": timedelta(seconds=1), "run_at": "now"},
    ],
    ids=["negative", "too-long", "with-run_at"],
)
async def test_an_enqueue_delay_out_of_range_or_beside_run_at_is_refused(
    store: TaskStore, clock: FakeClock, fields: dict[str, object]
) -> None:
    if fields.get("run_at") == "now":
        fields = {**fields, "run_at": clock.now()}
    with pytest.raises(ValidationError) as refused:
        await store.enqueue([spec(**fields)], now=clock.now())
    assert refused.value.field == "delay_seconds"
    assert (await store.list(TaskFilter())).tasks == []
