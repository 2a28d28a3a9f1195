"""Store contract: schedules are kept, found due, moved on by compare-and-set, and fired
once per fire time with only the latest missed fire enqueued (ADR 0029)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from leaseq.adapters.cron import CronsimCalendar
from leaseq.app.schedules import ScheduleService
from leaseq.domain import ScheduleNotFound, ScheduleSpec, TaskState, ValidationError
from leaseq.domain.schedule import SCHEDULE_LABEL, schedule_key
from leaseq.ports import ServiceStore, TaskFilter
from tests.support import FakeClock, spec

# T0 (tests.support) is 2030-01-01 12:00 UTC; the rule fires every 5 minutes.
EVERY_5 = ScheduleSpec("reports", "*/5 * * * *", "UTC", spec(queue="reports", type="report"))


async def fire(store: ServiceStore, schedules: ScheduleService, now: datetime) -> int:
    """The maintenance loop's step, at `now` (the store is told the instant; the service
    never passes one, ADR 0003)."""
    return await schedules.fire(await store.due_schedules(limit=100, now=now))


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2030, 1, 1, 12, minute, second, tzinfo=UTC)


async def test_a_schedule_is_stored_found_listed_and_deleted(
    store: ServiceStore, clock: FakeClock
) -> None:
    stored = await store.put_schedule(EVERY_5, next_fire_at=at(5), now=clock.now())
    assert (stored.name, stored.cron, stored.timezone, stored.task) == (
        "reports",
        "*/5 * * * *",
        "UTC",
        EVERY_5.task,
    )
    assert (stored.revision, stored.next_fire_at, stored.last_fire_at) == (1, at(5), None)
    assert await store.get_schedule("reports") == stored
    other = ScheduleSpec("audit", "0 * * * *", "Europe/Berlin", spec())
    await store.put_schedule(other, next_fire_at=at(0), now=clock.now())
    assert [s.name for s in await store.list_schedules()] == ["audit", "reports"]
    assert await store.delete_schedule("reports") == stored
    with pytest.raises(ScheduleNotFound):
        await store.get_schedule("reports")
    with pytest.raises(ScheduleNotFound):
        await store.delete_schedule("reports")


async def test_replacing_a_schedule_raises_its_revision_and_keeps_its_creation(
    store: ServiceStore, clock: FakeClock
) -> None:
    first = await store.put_schedule(EVERY_5, next_fire_at=at(5), now=clock.now())
    clock.advance(60)
    changed = ScheduleSpec("reports", "0 * * * *", "UTC", spec(queue="other"))
    second = await store.put_schedule(changed, next_fire_at=at(60 - 1), now=clock.now())
    assert (second.revision, second.created_at, second.updated_at) == (
        2,
        first.created_at,
        clock.now(),
    )
    assert second.task.queue == "other"


async def test_a_schedule_template_may_not_carry_its_own_key_or_run_at(
    store: ServiceStore, clock: FakeClock
) -> None:
    keyed = ScheduleSpec("s", "* * * * *", "UTC", spec(idempotency_key="mine"))
    with pytest.raises(ValidationError) as refused:
        await store.put_schedule(keyed, next_fire_at=at(1), now=clock.now())
    assert refused.value.field == "task.idempotency_key"
    bad_queue = ScheduleSpec("s", "* * * * *", "UTC", spec(queue="no spaces"))
    with pytest.raises(ValidationError) as refused:
        await store.put_schedule(bad_queue, next_fire_at=at(1), now=clock.now())
    assert refused.value.field == "task.queue"


async def test_only_schedules_at_or_past_their_fire_time_are_due_earliest_first(
    store: ServiceStore, clock: FakeClock
) -> None:
    for name, fire in (
        ("later", at(10)),
        ("now", at(0)),
        ("earlier", at(0) - timedelta(minutes=1)),
    ):
        each = ScheduleSpec(name, "* * * * *", "UTC", spec())
        await store.put_schedule(each, next_fire_at=fire, now=clock.now())
    due = await store.due_schedules(limit=10, now=at(0))
    assert due.at == at(0)
    assert [s.name for s in due.schedules] == ["earlier", "now"]
    assert [s.name for s in (await store.due_schedules(limit=1, now=at(0))).schedules] == [
        "earlier"
    ]


async def test_moving_a_schedule_on_is_a_compare_and_set(
    store: ServiceStore, clock: FakeClock
) -> None:
    stored = await store.put_schedule(EVERY_5, next_fire_at=at(5), now=clock.now())
    task_id = uuid.UUID("01900000-0000-7000-8000-00000000abcd")
    move = {"revision": stored.revision, "due": at(5), "fired_at": at(5), "following": at(10)}
    assert await store.advance_schedule("reports", **move, task_id=task_id, now=at(5))
    assert not await store.advance_schedule("reports", **move, task_id=task_id, now=at(5))
    moved = await store.get_schedule("reports")
    assert (moved.next_fire_at, moved.last_fire_at, moved.last_task_id) == (
        at(10),
        at(5),
        task_id,
    )
    stale = move | {"due": at(10), "following": at(15), "revision": stored.revision + 1}
    assert not await store.advance_schedule("reports", **stale, task_id=task_id, now=at(10))


async def test_firing_enqueues_one_task_per_fire_time_however_often_it_runs(
    store: ServiceStore, clock: FakeClock
) -> None:
    schedules = ScheduleService(store, CronsimCalendar())
    await store.put_schedule(EVERY_5, next_fire_at=at(5), now=clock.now())
    assert await fire(store, schedules, at(4, 59)) == 0
    assert await fire(store, schedules, at(5, 1)) == 1
    assert await fire(store, schedules, at(5, 2)) == 0  # moved on: not due again
    [task] = (await store.list(TaskFilter(queue="reports"))).tasks
    assert task.state is TaskState.PENDING
    assert (task.run_at, task.idempotency_key) == (at(5), schedule_key("reports", at(5)))
    assert task.labels[SCHEDULE_LABEL] == "reports"
    assert (await store.get_schedule("reports")).next_fire_at == at(10)


async def test_two_firings_of_one_fire_time_make_one_task(
    store: ServiceStore, clock: FakeClock
) -> None:
    """As two replicas do, both having read the schedule due before either moved it on."""
    calendar = CronsimCalendar()
    replicas = ScheduleService(store, calendar), ScheduleService(store, calendar)
    await store.put_schedule(EVERY_5, next_fire_at=at(5), now=clock.now())
    due = await store.due_schedules(limit=10, now=at(5))
    created = [await replica.fire(due) for replica in replicas]
    assert sorted(created) == [0, 1]
    assert len((await store.list(TaskFilter(queue="reports"))).tasks) == 1


async def test_fires_missed_while_nothing_ran_enqueue_only_the_latest(
    store: ServiceStore, clock: FakeClock
) -> None:
    schedules = ScheduleService(store, CronsimCalendar())
    await store.put_schedule(EVERY_5, next_fire_at=at(5), now=clock.now())
    assert await fire(store, schedules, at(32)) == 1  # 12:05 … 12:30 were all missed
    [task] = (await store.list(TaskFilter(queue="reports"))).tasks
    assert task.run_at == at(30)
    assert (await store.get_schedule("reports")).next_fire_at == at(35)


@pytest.mark.parametrize(
    ("day", "fire_times"),
    [
        # spring forward (02:00 → 03:00): 02:30 does not exist; it fires at 03:00 local
        ("2026-03-29", ["2026-03-28T01:30:00+00:00", "2026-03-29T01:00:00+00:00"]),
        # fall back (03:00 → 02:00): 02:30 happens twice; it fires once, the first time
        ("2026-10-25", ["2026-10-24T00:30:00+00:00", "2026-10-25T00:30:00+00:00"]),
    ],
)
async def test_a_schedule_at_0230_in_berlin_fires_once_on_a_dst_day(
    store: ServiceStore, clock: FakeClock, day: str, fire_times: list[str]
) -> None:
    calendar = CronsimCalendar()
    schedules = ScheduleService(store, calendar)
    rule = ScheduleSpec("nightly", "30 2 * * *", "Europe/Berlin", spec(queue="nightly"))
    start = datetime.fromisoformat(f"{day}T00:00:00+00:00") - timedelta(days=1)
    first = calendar.next_after(rule.cron, rule.timezone, start)
    await store.put_schedule(rule, next_fire_at=first, now=start)
    instant = start
    while instant < start + timedelta(days=2):  # every 10 minutes through both days
        instant += timedelta(minutes=10)
        await fire(store, schedules, instant)
    tasks = (await store.list(TaskFilter(queue="nightly"))).tasks
    assert [t.run_at.isoformat() for t in tasks] == fire_times
