"""Store contract: paused queues are never claimed; enqueue and held leases go on (ADR 0028)."""

from __future__ import annotations

import pytest

from leaseq.domain import QueueSettings, TaskState, ValidationError
from leaseq.ports import ServiceStore
from tests.contract.steps import add, take, take_one
from tests.support import FakeClock


async def test_a_paused_queue_grants_no_lease_until_it_is_resumed(
    store: ServiceStore, clock: FakeClock
) -> None:
    await store.set_paused("emails", True, now=clock.now())
    task = await add(store, clock)  # enqueue keeps working while paused
    assert await take(store, clock) == []
    clock.advance(5)
    assert await take(store, clock) == []
    await store.set_paused("emails", False, now=clock.now())
    assert [t.id for t in await take(store, clock)] == [task.id]


async def test_an_expired_lease_of_a_paused_queue_is_not_granted_again(
    store: ServiceStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    await take_one(store, clock)
    await store.set_paused("emails", True, now=clock.now())
    clock.advance(3600)  # the lease ran out long ago
    assert await take(store, clock) == []
    await store.set_paused("emails", False, now=clock.now())
    [again] = await take(store, clock)
    assert (again.id, again.attempts) == (task.id, 2)


async def test_a_lease_held_when_its_queue_is_paused_finishes_normally(
    store: ServiceStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    _, token = await take_one(store, clock)
    await store.set_paused("emails", True, now=clock.now())
    done = await store.complete(task.id, token, {"ok": True}, now=clock.now())
    assert done.state is TaskState.SUCCEEDED


async def test_pausing_one_queue_leaves_the_others_leasable(
    store: ServiceStore, clock: FakeClock
) -> None:
    await add(store, clock, queue="emails")
    hooks = await add(store, clock, queue="hooks")
    await store.set_paused("emails", True, now=clock.now())
    assert [t.id for t in await take(store, clock, queue="hooks")] == [hooks.id]


async def test_pause_is_idempotent_and_keeps_when_it_began(
    store: ServiceStore, clock: FakeClock
) -> None:
    first = await store.set_paused("emails", True, now=clock.now())
    began = clock.now()
    clock.advance(10)
    again = await store.set_paused("emails", True, now=clock.now())
    assert first == again == QueueSettings("emails", True, began, began)
    clock.advance(10)
    resumed = await store.set_paused("emails", False, now=clock.now())
    assert resumed == QueueSettings("emails", False, None, clock.now())
    assert await store.set_paused("emails", False, now=clock.now()) == resumed


async def test_queue_settings_are_the_defaults_until_set_and_listed_once_set(
    store: ServiceStore, clock: FakeClock
) -> None:
    assert await store.queue_settings("emails") == QueueSettings("emails")
    assert await store.all_queue_settings() == []
    await store.set_paused("hooks", True, now=clock.now())
    await store.set_paused("emails", True, now=clock.now())
    await store.set_paused("emails", False, now=clock.now())
    assert await store.set_paused("audit", False, now=clock.now()) == QueueSettings("audit")
    listed = await store.all_queue_settings()  # resuming a queue never paused set nothing
    assert [(s.queue, s.paused) for s in listed] == [("emails", False), ("hooks", True)]
    assert (await store.queue_settings("hooks")).paused


@pytest.mark.parametrize("queue", ["", "with space", "x" * 129])
async def test_pause_refuses_an_invalid_queue_name(
    store: ServiceStore, clock: FakeClock, queue: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await store.set_paused(queue, True, now=clock.now())
    assert refused.value.field == "queue"
