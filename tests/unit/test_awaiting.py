"""Awaiting a task: waiters share the notifier's event and never poll the store, so many
waiters cost a read each when they start and one when they are woken, not one per tick."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta
from uuid import UUID

from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.system import RandomJitter
from leaseq.app.services import LongPoll, TaskService
from leaseq.domain import Task, TaskState
from leaseq.ports import LeaseRequest
from tests.support import spec

WAITERS = 200


class CountingStore(InMemoryTaskStore):
    def __init__(self, notifier: InMemoryNotifier) -> None:
        super().__init__(notifier=notifier)
        self.reads = 0

    async def get(self, task_id: UUID) -> Task:
        self.reads += 1
        return await super().get(task_id)

    async def watch(self, task_id: UUID) -> Task:
        self.reads += 1
        return await super().watch(task_id)


def service_of(store: CountingStore, notifier: InMemoryNotifier) -> TaskService:
    return TaskService(store, notifier, RandomJitter(), LongPoll(fallback_poll=0.01))


async def test_many_waiters_read_the_store_once_to_start_and_once_when_woken() -> None:
    notifier = InMemoryNotifier()
    store = CountingStore(notifier)
    service = service_of(store, notifier)
    tasks = [a.task for a in await store.enqueue([spec() for _ in range(WAITERS)])]
    waiting = [asyncio.create_task(service.wait(t.id, 30)) for t in tasks]
    await asyncio.sleep(0.5)  # 50 fallback-poll intervals: a polling waiter would show
    assert store.reads == WAITERS
    granted = await store.lease(LeaseRequest("emails", "w", WAITERS, timedelta(seconds=60)))
    for task in granted:
        assert task.lease is not None
        await store.complete(task.id, task.lease.token)
    answers = await asyncio.gather(*waiting)
    assert {a.state for a in answers} == {TaskState.SUCCEEDED}
    assert store.reads == 2 * WAITERS


async def test_waiters_of_one_task_share_one_event_and_all_wake() -> None:
    notifier = InMemoryNotifier()
    store = CountingStore(notifier)
    service = service_of(store, notifier)
    [answer] = await store.enqueue([spec()])
    waiting = [asyncio.create_task(service.wait(answer.task_id, 30)) for _ in range(10)]
    await asyncio.sleep(0.05)
    assert notifier.final_event(answer.task_id) is notifier.final_event(answer.task_id)
    await store.cancel(answer.task_id)
    async with asyncio.timeout(5):
        assert {t.state for t in await asyncio.gather(*waiting)} == {TaskState.CANCELLED}


async def test_a_waiter_that_times_out_reads_the_task_once_more_and_leaves_nothing() -> None:
    notifier = InMemoryNotifier()
    store = CountingStore(notifier)
    service = service_of(store, notifier)
    [answer] = await store.enqueue([spec()])
    # as an HTTP request does, in a task of its own
    task = await asyncio.create_task(service.wait(answer.task_id, 0.2))
    assert task.state is TaskState.PENDING and store.reads == 2
    gc.collect()  # a timeout leaves a reference cycle (exception, traceback, frame)
    assert len(notifier._finals) == 0  # the event went with its last waiter
