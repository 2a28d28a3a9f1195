"""Long polling shares wake-ups: idle waiters do not each poll the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.domain import Task, TaskSpec
from leaseq.ports import LeaseRequest, TypeFilter


class CountingStore(InMemoryTaskStore):
    """The real memory store, counting lease calls."""

    def __init__(self, notifier: InMemoryNotifier) -> None:
        super().__init__(notifier=notifier)
        self.lease_calls = 0

    async def lease(self, request: LeaseRequest, *, now: datetime | None = None) -> list[Task]:
        self.lease_calls += 1
        return await super().lease(request, now=now)


def service(interval: float) -> tuple[TaskService, CountingStore]:
    notifier = InMemoryNotifier()
    store = CountingStore(notifier)
    return TaskService(store, notifier, RandomJitter(), LongPoll(fallback_poll=interval)), store


def request(types: list[TypeFilter] | None = None) -> LeaseRequest:
    return LeaseRequest("q", "w", 1, timedelta(seconds=30), types)


async def test_fifty_idle_waiters_cost_a_bounded_number_of_lease_calls_per_second():
    svc, store = service(interval=0.1)
    waiters = [asyncio.create_task(svc.lease(request(), 1.0)) for _ in range(50)]
    await asyncio.sleep(0.05)
    after_first_claims = store.lease_calls
    assert after_first_claims == 50  # each waiter tries once on arrival
    results = await asyncio.gather(*waiters)
    assert all(r == [] for r in results)
    # ~1 s of waiting at a 0.1 s interval: about 10 probes, one waiter each, not 50 x 10.
    assert store.lease_calls - after_first_claims <= 15
    await svc.close()


async def test_an_enqueue_wakes_a_waiter_within_a_few_milliseconds():
    svc, store = service(interval=5.0)
    waiters = [asyncio.create_task(svc.lease(request(), 10.0)) for _ in range(50)]
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await svc.enqueue([TaskSpec(queue="q", type="t")])
    done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED, timeout=1.0)
    assert loop.time() - started < 0.02
    assert len(done) == 1 and len(done.pop().result()) == 1
    calls_before_quiet = store.lease_calls
    await asyncio.sleep(0.1)
    assert store.lease_calls == calls_before_quiet  # the others keep sleeping
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await svc.close()


async def test_a_batch_enqueue_is_handed_out_to_one_waiter_after_another():
    svc, _ = service(interval=5.0)
    waiters = [asyncio.create_task(svc.lease(request(), 10.0)) for _ in range(5)]
    await asyncio.sleep(0.05)
    await svc.enqueue([TaskSpec(queue="q", type="t") for _ in range(5)])
    results = await asyncio.wait_for(asyncio.gather(*waiters), 1.0)
    assert sorted(len(r) for r in results) == [1, 1, 1, 1, 1]
    await svc.close()


async def test_waiters_for_other_types_are_each_given_a_turn():
    svc, _ = service(interval=5.0)
    wants_a = asyncio.create_task(svc.lease(request([TypeFilter("a", 1)]), 10.0))
    wants_b = asyncio.create_task(svc.lease(request([TypeFilter("b", 1)]), 10.0))
    await asyncio.sleep(0.05)
    await svc.enqueue([TaskSpec(queue="q", type="b")])
    (granted,) = await asyncio.wait_for(wants_b, 1.0)
    assert granted.type == "b" and not wants_a.done()
    wants_a.cancel()
    await svc.close()


async def test_a_scheduled_task_is_found_by_the_periodic_ready_check():
    svc, _ = service(interval=0.05)
    waiter = asyncio.create_task(svc.lease(request(), 5.0))
    await asyncio.sleep(0.02)
    run_at = datetime.now(UTC) + timedelta(milliseconds=100)
    await svc.enqueue([TaskSpec(queue="q", type="t", run_at=run_at)])
    (granted,) = await asyncio.wait_for(waiter, 1.0)
    assert granted.run_at == run_at
    await svc.close()


class WokenDuringTheFirstLook(CountingStore):
    """A task is enqueued (and its wake-up sent) while the first lease call is under way,
    after that call has looked: the look finds nothing, the wake-up is all that tells."""

    async def lease(self, request: LeaseRequest, *, now: datetime | None = None) -> list[Task]:
        granted = await super().lease(request, now=now)
        if self.lease_calls == 1:
            await self.enqueue([TaskSpec(queue="q", type="t")])
        return granted


async def test_a_wake_up_during_the_first_look_is_kept_as_a_turn():
    # The memory store's claim never yields: the queue's new watcher must be listening
    # before that first look, or the wake-up is lost until the periodic check.
    notifier = InMemoryNotifier()
    store = WokenDuringTheFirstLook(notifier)
    svc = TaskService(store, notifier, RandomJitter(), LongPoll(fallback_poll=5.0))
    granted = await asyncio.wait_for(svc.lease(request(), 10.0), 1.0)
    assert len(granted) == 1  # at once, not at the next periodic check 5 s later
    assert store.lease_calls == 2
    await svc.close()
