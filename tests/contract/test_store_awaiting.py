"""Store contract: a task's move to a final state is announced to its awaiters, through
the store's own notifier (in-process for memory, LISTEN/NOTIFY for PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from leaseq.adapters.memory import InMemoryNotifier, InMemoryTaskStore
from leaseq.adapters.postgres import PostgresNotifier, open_postgres_store
from leaseq.domain import TaskNotFound, TaskState
from leaseq.ports import Notifier, ServiceStore
from tests.contract.steps import add, take_one
from tests.postgres_databases import MigratedDatabases
from tests.support import FakeClock, SequentialIds

Pair = tuple[ServiceStore, Notifier]


@contextlib.asynccontextmanager
async def memory_pair(clock: FakeClock) -> AsyncIterator[Pair]:
    notifier = InMemoryNotifier()
    yield InMemoryTaskStore(clock=clock, notifier=notifier, ids=SequentialIds()), notifier


@contextlib.asynccontextmanager
async def postgres_pair(clock: FakeClock) -> AsyncIterator[Pair]:
    url = await MigratedDatabases.current().create()
    store = await open_postgres_store(url, pool_size=2, ids=SequentialIds())
    notifier = PostgresNotifier(url)
    await notifier.start()
    try:
        yield store, notifier
    finally:
        await notifier.close()
        await store.close()


PAIRS: list[Any] = [
    pytest.param(memory_pair, id="memory"),
    pytest.param(postgres_pair, id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=PAIRS)
def opener(request: pytest.FixtureRequest) -> Callable[[FakeClock], Any]:
    if request.param is postgres_pair:
        request.getfixturevalue("pg_databases")  # sync: it sets up with its own loop
    found: Callable[[FakeClock], Any] = request.param
    return found


@pytest.fixture
async def pair(opener: Callable[[FakeClock], Any], clock: FakeClock) -> AsyncIterator[Pair]:
    async with opener(clock) as found:
        yield found


async def woken(event: asyncio.Event) -> bool:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await event.wait()
            return True
    return False


async def test_completing_an_awaited_task_wakes_its_awaiters(pair: Pair, clock: FakeClock) -> None:
    store, notifier = pair
    task = await add(store, clock)
    event = notifier.final_event(task.id)
    assert (await store.watch(task.id)).state is TaskState.PENDING
    _, token = await take_one(store, clock)
    assert not event.is_set()
    await store.complete(task.id, token, now=clock.now())
    assert await woken(event)


@pytest.mark.parametrize("finish", ["cancel", "fail"])
async def test_every_final_state_is_announced(pair: Pair, clock: FakeClock, finish: str) -> None:
    store, notifier = pair
    task = await add(store, clock)
    event = notifier.final_event(task.id)
    await store.watch(task.id)
    if finish == "cancel":
        await store.cancel(task.id, now=clock.now())
    else:
        _, token = await take_one(store, clock)
        await store.fail(task.id, token, "boom", now=clock.now())
    assert await woken(event)


async def test_a_task_that_is_not_final_wakes_nobody(pair: Pair, clock: FakeClock) -> None:
    store, notifier = pair
    task = await add(store, clock)
    other = await add(store, clock)
    event = notifier.final_event(task.id)
    await store.watch(task.id)
    await take_one(store, clock)  # leased: not final
    await store.cancel(other.id, now=clock.now())  # another task's final state
    await asyncio.sleep(0.3)
    assert not event.is_set()


async def test_watch_answers_the_task_as_it_stands(pair: Pair, clock: FakeClock) -> None:
    store, _ = pair
    task = await add(store, clock)
    assert await store.watch(task.id) == task
    assert await store.watch(task.id) == task  # a second watch only reads
    await store.cancel(task.id, now=clock.now())
    assert (await store.watch(task.id)).state is TaskState.CANCELLED


async def test_watch_of_an_unknown_task_is_task_not_found(pair: Pair, clock: FakeClock) -> None:
    store, _ = pair
    unknown = SequentialIds(start=999).new_id()
    with pytest.raises(TaskNotFound):
        await store.watch(unknown)
