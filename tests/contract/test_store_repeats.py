"""Store contract: a repeated report gets the first answer; a repeated lease request gets
the leases the first one was granted (ADR 0021). Run against every store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

import pytest

from leaseq.domain import LeaseLost, ReportedTask, ReportRepeated, Task, TaskEvent, TaskState
from leaseq.ports import Complete, Fail, LeaseRequest, Retry, TaskStore
from tests.contract.steps import LEASE_FOR, add, take, take_one, token
from tests.support import FakeClock

Report = Callable[[TaskStore, UUID, str, FakeClock], Awaitable[Task]]

REPORTS: dict[str, Report] = {
    "complete": lambda s, i, t, c: s.complete(i, t, {"sent": [1, 2]}, now=c.now()),
    "retry": lambda s, i, t, c: s.retry(
        i, t, "smtp down", delay=timedelta(seconds=2), jitter_draw=0.3, now=c.now()
    ),
    "fail": lambda s, i, t, c: s.fail(i, t, "fatal", now=c.now()),
    "release": lambda s, i, t, c: s.release(i, t, now=c.now()),
}
reports = pytest.mark.parametrize("report", list(REPORTS.values()), ids=list(REPORTS))


async def repeat(call: Awaitable[Task]) -> Task:
    with pytest.raises(ReportRepeated) as repeated:
        await call
    return repeated.value.task


async def history(store: TaskStore, task_id: UUID) -> list[TaskEvent]:
    return await store.history(task_id)


@reports
async def test_a_repeated_report_answers_the_task_as_the_first_left_it_and_records_nothing(
    store: TaskStore, clock: FakeClock, report: Report
) -> None:
    await add(store, clock)
    task, lease_token = await take_one(store, clock)
    first = await report(store, task.id, lease_token, clock)
    events = await history(store, task.id)
    clock.advance(timedelta(seconds=1))
    assert await repeat(report(store, task.id, lease_token, clock)) == first
    assert await store.get(task.id) == first
    assert await history(store, task.id) == events


@reports
async def test_a_repeated_report_after_the_task_moved_on_still_gets_the_first_answer(
    store: TaskStore, clock: FakeClock, report: Report
) -> None:
    await add(store, clock)
    task, lease_token = await take_one(store, clock)
    first = await report(store, task.id, lease_token, clock)
    clock.advance(timedelta(seconds=5))
    if first.state is TaskState.PENDING:
        moved, _ = await take_one(store, clock, owner="worker-2")  # another worker has it
    else:
        moved = (
            await store.requeue(task.id, now=clock.now())
            if first.state is TaskState.DEAD
            else first
        )
    assert await store.get(task.id) == moved
    assert await repeat(report(store, task.id, lease_token, clock)) == first
    assert await store.get(task.id) == moved


async def test_a_different_report_with_a_spent_token_is_still_refused_as_lease_lost(
    store: TaskStore, clock: FakeClock
) -> None:
    await add(store, clock)
    task, lease_token = await take_one(store, clock)
    done = await store.complete(task.id, lease_token, {"sent": True}, now=clock.now())
    for other in (
        store.complete(task.id, lease_token, {"sent": False}, now=clock.now()),
        store.complete(task.id, lease_token, None, now=clock.now()),
        store.fail(task.id, lease_token, "fatal", now=clock.now()),
        store.retry(task.id, lease_token, "e", now=clock.now()),
        store.release(task.id, lease_token, now=clock.now()),
        store.complete(task.id, "not-the-token", {"sent": True}, now=clock.now()),
    ):
        with pytest.raises(LeaseLost):
            await other
    assert await store.get(task.id) == done


async def test_a_repeat_of_an_older_report_once_a_newer_lease_ended_is_lease_lost(
    store: TaskStore, clock: FakeClock
) -> None:
    await add(store, clock)
    task, first_token = await take_one(store, clock)
    await store.release(task.id, first_token, now=clock.now())
    _, second_token = await take_one(store, clock)
    await store.release(task.id, second_token, now=clock.now())
    with pytest.raises(LeaseLost):
        await store.release(task.id, first_token, now=clock.now())
    await repeat(store.release(task.id, second_token, now=clock.now()))


async def test_a_repeated_batch_report_answers_each_item_as_the_first_did(
    store: TaskStore, clock: FakeClock
) -> None:
    for _ in range(3):
        await add(store, clock)
    leased = await take(store, clock, limit=3)
    a, b, c = leased
    outcomes = [
        Complete(a.id, token(a), {"n": 1}),
        Retry(b.id, token(b), "later", delay=timedelta(seconds=3)),
        Fail(c.id, token(c), "fatal"),
    ]
    first = await store.report(outcomes, with_tasks=True, now=clock.now())
    whole = [answer.task for answer in first if isinstance(answer, ReportedTask)]
    assert len(whole) == 3
    clock.advance(timedelta(seconds=1))
    again = await store.report([*outcomes, Complete(a.id, token(a), {"n": 2})], now=clock.now())
    assert [answer.task for answer in again[:3] if isinstance(answer, ReportRepeated)] == whole
    assert isinstance(again[3], LeaseLost)  # another result with a's token


async def test_a_repeated_lease_request_gets_the_live_leases_of_the_first_again(
    store: TaskStore, clock: FakeClock
) -> None:
    for priority in (0, 5, 1):
        await add(store, clock, priority=priority)
    await add(store, clock)  # left for the next request
    ask = LeaseRequest("emails", "worker-1", 3, LEASE_FOR, request_id="req-1")
    first = await store.lease(ask, now=clock.now())
    assert len(first) == 3
    clock.advance(timedelta(seconds=2))
    again = await store.lease(
        LeaseRequest("emails", "worker-1", 3, LEASE_FOR, request_id="req-1", repeat=True),
        now=clock.now(),
    )
    assert again == first  # the same tasks, tokens, epochs and expiries, in claim order
    # a repeat names only its own live, unreported grants; when none, it claims anew
    await store.complete(first[0].id, token(first[0]), now=clock.now())
    again = await store.lease(
        LeaseRequest("emails", "worker-1", 3, LEASE_FOR, request_id="req-1", repeat=True),
        now=clock.now(),
    )
    assert again == first[1:]
    other = LeaseRequest("emails", "worker-2", 3, LEASE_FOR, request_id="req-1", repeat=True)
    [fresh] = await store.lease(other, now=clock.now())
    assert fresh.id not in {t.id for t in first}
    assert fresh.lease is not None and fresh.lease.request_id == "req-1"


async def test_a_repeated_lease_request_whose_leases_expired_claims_as_a_new_one(
    store: TaskStore, clock: FakeClock
) -> None:
    await add(store, clock)
    ask = LeaseRequest("emails", "worker-1", 1, LEASE_FOR, request_id="req-1")
    [first] = await store.lease(ask, now=clock.now())
    clock.advance(LEASE_FOR)
    repeated = LeaseRequest("emails", "worker-1", 1, LEASE_FOR, request_id="req-1", repeat=True)
    [again] = await store.lease(repeated, now=clock.now())
    assert again.id == first.id and again.epoch == first.epoch + 1


async def test_a_lease_request_id_is_refused_when_it_is_not_short_text(
    store: TaskStore, clock: FakeClock
) -> None:
    from leaseq.domain import ValidationError

    for bad in ("", "x" * 129, "a\x00b"):
        with pytest.raises(ValidationError) as refusal:
            await store.lease(
                LeaseRequest("emails", "worker-1", 1, LEASE_FOR, request_id=bad), now=clock.now()
            )
        assert refusal.value.field == "request_id"
