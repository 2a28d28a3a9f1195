"""Store contract: names are listed in one order on every store and every database.

The memory store sorts names by code point. PostgreSQL sorts text by the database's
collation, and a production database's is seldom C: under `en_US.UTF-8` "a" < "B" and
punctuation is nearly ignored. So the PostgreSQL store orders names by code point too
(`COLLATE "C"`), and the suite's PostgreSQL databases use `en_US.UTF-8` (tests/conftest.py)
so that a statement which forgets it fails here.
"""

from __future__ import annotations

from leaseq.domain import ScheduleSpec
from leaseq.ports import ServiceStore
from tests.support import T0, FakeClock, spec

# Code point order and en_US.UTF-8's disagree on every neighbour pair here.
NAMES = ["b", "B", "a", "A-z", "a_b", "a.c", "ab", "0"]
CODE_POINT_ORDER = sorted(NAMES)  # ['0', 'A-z', 'B', 'a', 'a.c', 'a_b', 'ab', 'b']


async def test_queues_are_listed_by_code_point(store: ServiceStore, clock: FakeClock) -> None:
    for name in NAMES:
        await store.enqueue([spec(queue=name)], now=clock.now())
        await store.set_paused(name, True, now=clock.now())
    assert [s.queue for s in await store.stats(now=clock.now())] == CODE_POINT_ORDER
    assert [q.queue for q in await store.all_queue_settings()] == CODE_POINT_ORDER


async def test_schedules_are_listed_and_found_due_by_code_point(
    store: ServiceStore, clock: FakeClock
) -> None:
    for name in NAMES:
        rule = ScheduleSpec(name, "*/5 * * * *", "UTC", spec(queue="reports"))
        await store.put_schedule(rule, next_fire_at=T0, now=clock.now())
    assert [s.name for s in await store.list_schedules()] == CODE_POINT_ORDER
    due = await store.due_schedules(limit=100, now=T0)  # all due at once: by name
    assert [s.name for s in due.schedules] == CODE_POINT_ORDER
