"""Store contract: claim order, scheduling, expiry and re-lease, filters, dead-lettering."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leaseq.domain import LeaseExpired, LeaseLost, TaskState, ValidationError
from leaseq.domain.transitions import EXPIRED_ERROR
from leaseq.ports import TaskStore, TypeFilter
from tests.contract.steps import LEASE_FOR, add, take, take_one, token
from tests.support import FakeClock


async def test_lease_grants_higher_priority_first_then_fifo_by_run_at_then_id(
    store: TaskStore, clock: FakeClock
) -> None:
    start = clock.now()
    low = await add(store, clock, priority=-1)
    late = await add(store, clock, run_at=start - timedelta(seconds=1))
    early = await add(store, clock, run_at=start - timedelta(seconds=2))
    same_a = await add(store, clock)
    same_b = await add(store, clock)
    urgent = await add(store, clock, priority=7)
    granted = await take(store, clock, limit=10)
    assert [t.id for t in granted] == [urgent.id, early.id, late.id, same_a.id, same_b.id, low.id]


async def test_lease_grants_each_task_one_attempt_a_token_an_epoch_and_an_expiry(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    granted, _ = await take_one(store, clock, owner="w-7")
    assert granted.id == task.id and granted.state is TaskState.LEASED
    assert (granted.attempts, granted.epoch) == (1, 1)
    assert granted.lease is not None
    assert (granted.lease.owner, granted.lease.epoch) == ("w-7", 1)
    assert granted.lease.expires_at == clock.now() + LEASE_FOR
    assert await store.get(task.id) == granted


async def test_lease_grants_at_most_the_limit(store: TaskStore, clock: FakeClock) -> None:
    for _ in range(5):
        await add(store, clock)
    assert len(await take(store, clock, limit=3)) == 3
    assert len(await take(store, clock, limit=3)) == 2
    assert await take(store, clock, limit=3) == []


async def test_tokens_differ_between_leases(store: TaskStore, clock: FakeClock) -> None:
    await add(store, clock)
    await add(store, clock)
    first, second = await take(store, clock)
    assert token(first) != token(second)


async def test_a_scheduled_task_is_leased_only_from_its_run_at(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock, run_at=clock.now() + timedelta(seconds=10))
    clock.advance(timedelta(seconds=10) - timedelta(microseconds=1))
    assert await take(store, clock) == []
    clock.advance(timedelta(microseconds=1))
    assert [t.id for t in await take(store, clock)] == [task.id]


async def test_a_live_lease_is_never_granted_twice(store: TaskStore, clock: FakeClock) -> None:
    await add(store, clock)
    await take_one(store, clock)
    clock.advance(LEASE_FOR - timedelta(microseconds=1))
    assert await take(store, clock) == []


async def test_an_expired_lease_is_granted_again_with_a_new_token_and_a_larger_epoch(
    store: TaskStore, clock: FakeClock
) -> None:
    await add(store, clock)
    first, first_token = await take_one(store, clock)
    clock.advance(LEASE_FOR)
    second, second_token = await take_one(store, clock, owner="worker-2")
    assert second.id == first.id
    assert second_token != first_token
    assert (second.epoch, second.attempts) == (2, 2)
    assert second.last_error == EXPIRED_ERROR
    with pytest.raises(LeaseLost):
        await store.complete(first.id, first_token, now=clock.now())
    await store.complete(second.id, second_token, now=clock.now())


async def test_an_expired_lease_queues_from_its_expiry_instant(
    store: TaskStore, clock: FakeClock
) -> None:
    expired = await add(store, clock)
    await take_one(store, clock)
    clock.advance(10)
    newer = await add(store, clock)
    clock.advance(60)  # expired's lease ran out at +30, after newer's run_at at +10
    assert [t.id for t in await take(store, clock)] == [newer.id, expired.id]


async def test_lease_only_grants_tasks_of_its_queue(store: TaskStore, clock: FakeClock) -> None:
    await add(store, clock, queue="hooks")
    assert await take(store, clock, queue="emails") == []
    assert len(await take(store, clock, queue="hooks")) == 1


async def test_lease_with_types_grants_only_the_listed_type_and_version_pairs(
    store: TaskStore, clock: FakeClock
) -> None:
    v1 = await add(store, clock, type="send", type_version=1)
    await add(store, clock, type="send", type_version=2)
    await add(store, clock, type="other", type_version=1)
    granted = await take(store, clock, types=[TypeFilter("send", 1), TypeFilter("absent", 1)])
    assert [t.id for t in granted] == [v1.id]


async def test_lease_sends_an_expired_task_without_attempts_left_dead_and_grants_nothing(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock, max_attempts=1)
    _, lease_token = await take_one(store, clock)
    clock.advance(LEASE_FOR)
    assert await take(store, clock) == []
    dead = await store.get(task.id)
    assert (dead.state, dead.last_error, dead.attempts) == (TaskState.DEAD, EXPIRED_ERROR, 1)
    assert dead.finished_at == clock.now()
    with pytest.raises(LeaseExpired):
        await store.complete(task.id, lease_token, now=clock.now())


async def test_lease_dead_letters_only_tasks_of_the_listed_types(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock, type="a", max_attempts=1)
    await take_one(store, clock)
    clock.advance(LEASE_FOR)
    assert await take(store, clock, types=[TypeFilter("b", 1)]) == []
    assert (await store.get(task.id)).state is TaskState.LEASED
    assert await take(store, clock, types=[TypeFilter("a", 1)]) == []
    assert (await store.get(task.id)).state is TaskState.DEAD


@pytest.mark.parametrize(
    "bad",
    [
        {"limit": 0},
        {"limit": 1001},
        {"lease_for": timedelta(0)},
        {"lease_for": timedelta(days=2)},
        {"queue": "bad queue"},
        {"owner": ""},
        {"types": [TypeFilter("ok", 0)]},
    ],
    ids=["limit-0", "limit-1001", "lease-0", "lease-2d", "queue", "owner", "version"],
)
async def test_a_malformed_lease_request_is_refused_and_grants_nothing(
    store: TaskStore, clock: FakeClock, bad: dict[str, object]
) -> None:
    task = await add(store, clock)
    with pytest.raises(ValidationError):
        await take(store, clock, **bad)
    assert (await store.get(task.id)).state is TaskState.PENDING
