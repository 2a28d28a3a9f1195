"""Store contract: strict priority (ADR 0009). A lower-priority task waits as long as
higher-priority tasks are ready, however long that is, and runs once they drain."""

from __future__ import annotations

from leaseq.ports import TaskStore
from tests.contract.steps import add, take
from tests.support import FakeClock


async def test_low_priority_tasks_wait_while_higher_ones_keep_arriving_then_run_in_order(
    store: TaskStore, clock: FakeClock
) -> None:
    lows = [await add(store, clock, priority=0) for _ in range(3)]
    await add(store, clock, priority=5)
    for _ in range(50):  # one high-priority task arrives for every one taken
        [granted] = await take(store, clock, limit=1)
        assert granted.priority == 5, "a low-priority task ran while a higher one was ready"
        await add(store, clock, priority=5)
    granted = await take(store, clock, limit=10)
    assert [t.priority for t in granted] == [5, 0, 0, 0]
    assert [t.id for t in granted[1:]] == [t.id for t in lows]


async def test_a_higher_priority_task_is_taken_before_older_lower_ones(
    store: TaskStore, clock: FakeClock
) -> None:
    older = [await add(store, clock, priority=p) for p in (1, 2, 3)]
    newest = await add(store, clock, priority=9)
    granted = await take(store, clock, limit=4)
    assert [t.id for t in granted] == [newest.id, *reversed([t.id for t in older])]
