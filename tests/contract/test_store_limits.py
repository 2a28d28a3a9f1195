"""Store contract: flow control (ADR 0030). A limited queue's grants stay within its
concurrency, per-key and rate limits, go round-robin across keys, and a lease that ends
or expires frees its slot at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from leaseq.adapters.postgres import open_postgres_store
from leaseq.domain import LiveLeases, QueueLimits, QueueSettings, TaskState, ValidationError
from leaseq.ports import LeaseRequest, ServiceStore, TypeFilter
from tests.contract.steps import add, take, take_one, token
from tests.support import FakeClock, spec


async def limit(store: ServiceStore, clock: FakeClock, **limits: float | None) -> None:
    await store.set_limits("emails", QueueLimits(**limits), now=clock.now())  # type: ignore[arg-type]


async def test_enqueue_keeps_the_concurrency_key(store: ServiceStore, clock: FakeClock) -> None:
    task = await add(store, clock, concurrency_key="tenant-1")
    assert task.concurrency_key == "tenant-1"
    assert (await store.get(task.id)).concurrency_key == "tenant-1"
    assert (await add(store, clock)).concurrency_key is None


@pytest.mark.parametrize("key", ["", "k" * 257, "a\x00b"])
async def test_a_bad_concurrency_key_is_refused_and_nothing_written(
    store: ServiceStore, clock: FakeClock, key: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await store.enqueue([spec(), spec(concurrency_key=key)], now=clock.now())
    assert refused.value.field == "concurrency_key"
    assert (await store.stats("emails"))[0].counts[TaskState.PENDING] == 0


async def test_a_queue_grants_no_more_than_its_concurrency(
    store: ServiceStore, clock: FakeClock
) -> None:
    for _ in range(5):
        await add(store, clock)
    await limit(store, clock, concurrency=2)
    assert len(await take(store, clock)) == 2
    assert await take(store, clock) == []


async def test_a_completed_lease_frees_its_slot_at_once(
    store: ServiceStore, clock: FakeClock
) -> None:
    await add(store, clock)
    await add(store, clock)
    await limit(store, clock, concurrency=1)
    task, held = await take_one(store, clock)
    assert await take(store, clock) == []
    await store.complete(task.id, held, now=clock.now())
    assert len(await take(store, clock)) == 1


async def test_a_released_lease_frees_its_slot_at_once(
    store: ServiceStore, clock: FakeClock
) -> None:
    await add(store, clock)
    await add(store, clock)
    await limit(store, clock, concurrency=1)
    task, held = await take_one(store, clock)
    await store.release(task.id, held, now=clock.now())
    assert len(await take(store, clock)) == 1


async def test_an_expired_lease_frees_its_slot_at_the_instant_it_expires(
    store: ServiceStore, clock: FakeClock
) -> None:
    await add(store, clock)
    await add(store, clock)
    await limit(store, clock, concurrency=1)
    await take_one(store, clock, lease_for=timedelta(seconds=10))
    clock.advance(9)
    assert await take(store, clock) == []
    clock.advance(1)  # no sweep ran: the lease's expiry alone frees the slot
    assert len(await take(store, clock)) == 1


async def test_a_key_gets_no_more_than_its_per_key_cap_while_others_are_served(
    store: ServiceStore, clock: FakeClock
) -> None:
    for key in ("a", "a", "a", "b", "b", "b"):
        await add(store, clock, concurrency_key=key)
    await add(store, clock)  # unkeyed: not held by the per-key cap
    await limit(store, clock, concurrency_per_key=1)
    granted = await take(store, clock)
    assert sorted(str(t.concurrency_key) for t in granted) == ["None", "a", "b"]
    assert await take(store, clock) == []
    assert await store.live_leases("emails", now=clock.now()) == LiveLeases(3, {"a": 1, "b": 1})


async def test_a_busy_key_delays_a_quiet_key_by_one_grant_round_at_most(
    store: ServiceStore, clock: FakeClock
) -> None:
    for _ in range(20):
        await add(store, clock, concurrency_key="busy")
    clock.advance(1)
    quiet = await add(store, clock, concurrency_key="quiet")
    await limit(store, clock, concurrency=100)
    first, _ = await take_one(store, clock)
    second, _ = await take_one(store, clock)
    assert quiet.id in {first.id, second.id}
    both = await take(store, clock, limit=4)
    assert [t.concurrency_key for t in both] == ["busy"] * 4


async def test_the_rate_allows_one_seconds_worth_then_refills_over_time(
    store: ServiceStore, clock: FakeClock
) -> None:
    for _ in range(10):
        await add(store, clock)
    await limit(store, clock, rate_per_second=2)
    assert len(await take(store, clock)) == 2
    assert await take(store, clock) == []
    clock.advance(0.5)
    assert len(await take(store, clock)) == 1
    clock.advance(10)  # the bucket holds one second's worth, no more
    assert len(await take(store, clock)) == 2


async def test_the_cap_counts_every_live_lease_of_the_queue_whatever_the_types_asked(
    store: ServiceStore, clock: FakeClock
) -> None:
    await add(store, clock, type="a")
    await add(store, clock, type="b")
    await limit(store, clock, concurrency=1)
    await take_one(store, clock, types=[TypeFilter("a", 1)])
    assert await take(store, clock, types=[TypeFilter("b", 1)]) == []


async def test_a_paused_limited_queue_grants_nothing(store: ServiceStore, clock: FakeClock) -> None:
    await add(store, clock)
    await limit(store, clock, concurrency=5)
    await store.set_paused("emails", True, now=clock.now())
    assert await take(store, clock) == []


async def test_limits_are_stored_shown_and_lifted(store: ServiceStore, clock: FakeClock) -> None:
    for _ in range(3):
        await add(store, clock)
    limits = QueueLimits(concurrency=1, concurrency_per_key=2, rate_per_second=7.5)
    saved = await store.set_limits("emails", limits, now=clock.now())
    assert saved == QueueSettings("emails", limits=limits, updated_at=clock.now())
    assert await store.queue_settings("emails") == saved
    assert await store.all_queue_settings() == [saved]
    assert len(await take(store, clock)) == 1
    await store.set_limits("emails", QueueLimits(), now=clock.now())
    assert len(await take(store, clock)) == 2


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        (QueueLimits(concurrency=0), "concurrency"),
        (QueueLimits(concurrency_per_key=-1), "concurrency_per_key"),
        (QueueLimits(rate_per_second=0.0), "rate_per_second"),
        (QueueLimits(rate_per_second=float("nan")), "rate_per_second"),
    ],
)
async def test_limits_out_of_bounds_are_refused_and_nothing_changes(
    store: ServiceStore, clock: FakeClock, limits: QueueLimits, field: str
) -> None:
    await limit(store, clock, concurrency=3)
    before = await store.queue_settings("emails")
    with pytest.raises(ValidationError) as refused:
        await store.set_limits("emails", limits, now=clock.now())
    assert refused.value.field == field
    assert await store.queue_settings("emails") == before


async def test_a_heartbeat_keeps_the_slot_taken(store: ServiceStore, clock: FakeClock) -> None:
    await add(store, clock)
    await add(store, clock)
    await limit(store, clock, concurrency=1)
    task, held = await take_one(store, clock, lease_for=timedelta(seconds=10))
    clock.advance(8)
    await store.heartbeat(task.id, held, lease_for=timedelta(seconds=10), now=clock.now())
    clock.advance(8)
    assert await take(store, clock) == []


async def test_an_expired_lease_in_a_limited_queue_is_granted_again(
    store: ServiceStore, clock: FakeClock
) -> None:
    task = await add(store, clock, concurrency_key="k")
    await limit(store, clock, concurrency_per_key=1)
    first, _ = await take_one(store, clock)
    clock.advance(31)
    again, _ = await take_one(store, clock)
    assert (again.id, again.attempts, again.epoch) == (task.id, 2, 2)
    assert token(again) != token(first)


@pytest.mark.postgres
async def test_limits_lifted_through_another_replica_hold_for_a_replica_that_saw_them(
    pg_migrated_url: str,
) -> None:
    """A store that found a queue limited goes to the limited path directly next time;
    the path checks the stored row under its lock, so a lift (or a pause) made through
    another replica holds at once."""
    seen = await open_postgres_store(pg_migrated_url, pool_size=2)
    other = await open_postgres_store(pg_migrated_url, pool_size=2)
    request = LeaseRequest("emails", "w", 10, timedelta(seconds=30))
    try:
        await seen.enqueue([spec() for _ in range(6)])
        await other.set_limits("emails", QueueLimits(concurrency=1))
        assert len(await seen.lease(request)) == 1
        await other.set_limits("emails", QueueLimits())
        assert len(await seen.lease(request)) == 5
        await other.set_limits("emails", QueueLimits(concurrency=10))
        await other.set_paused("emails", True)
        await seen.enqueue([spec()])
        assert await seen.lease(request) == []
    finally:
        await seen.close()
        await other.close()


@pytest.mark.postgres
async def test_a_held_queue_lock_leaves_other_queues_free(pg_migrated_url: str) -> None:
    """While one limited queue's settings row is locked (a grant in progress elsewhere),
    other queues, limited or not, grant at once; only that queue's grants wait."""
    store = await open_postgres_store(pg_migrated_url, pool_size=4)
    holder = await asyncpg.connect(pg_migrated_url)

    def request(queue: str) -> LeaseRequest:
        return LeaseRequest(queue, "w", 5, timedelta(seconds=30))

    try:
        for queue in ("emails", "hooks", "plain"):
            await store.enqueue([spec(queue=queue)])
        for queue in ("emails", "hooks"):
            await store.set_limits(queue, QueueLimits(concurrency=5))
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM leaseq_queues WHERE queue = 'emails' FOR UPDATE")
            async with asyncio.timeout(5):
                assert len(await store.lease(request("hooks"))) == 1
                assert len(await store.lease(request("plain"))) == 1
            waiting = asyncio.create_task(store.lease(request("emails")))
            await asyncio.sleep(0.5)
            assert not waiting.done()  # the same queue's grants wait for the lock
        async with asyncio.timeout(5):
            assert len(await waiting) == 1
    finally:
        await holder.close()
        await store.close()


@pytest.mark.postgres
async def test_concurrent_grants_on_one_limited_queue_never_pass_its_cap(
    pg_migrated_url: str,
) -> None:
    """Sixteen lease calls at once on eight connections, each for a type of its own (so
    that no two would pick the same task): the queue's row lock makes each see the grants
    committed before it, so the caps hold exactly."""
    store = await open_postgres_store(pg_migrated_url, pool_size=8)
    try:
        await store.enqueue(
            [spec(type=f"t{n % 16}", concurrency_key=f"k{n % 3}") for n in range(64)]
        )
        await store.set_limits("emails", QueueLimits(concurrency=5, concurrency_per_key=2))
        calls = [
            store.lease(
                LeaseRequest("emails", f"w{n}", 2, timedelta(seconds=30), [TypeFilter(f"t{n}", 1)])
            )
            for n in range(16)
        ]
        granted = [t for answer in await asyncio.gather(*calls) for t in answer]
        live = await store.live_leases("emails")
        assert len(granted) == live.total == 5, live
        assert max(live.per_key.values()) <= 2, live
    finally:
        await store.close()
