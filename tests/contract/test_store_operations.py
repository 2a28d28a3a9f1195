"""Store contract: cancel, requeue, list and paging, stats, the expiry sweep and pruning."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest

from leaseq.domain import (
    InvalidTransition,
    Task,
    TaskCancelled,
    TaskNotFound,
    TaskState,
    ValidationError,
)
from leaseq.ports import TaskFilter, TaskStore, TypeFilter
from tests.contract.steps import LEASE_FOR, add, take, take_one
from tests.support import FakeClock

FINISHING = TypeFilter("finishing", 1)
UNKNOWN = uuid.UUID("01900000-0000-7000-8000-ffffffffffff")


async def finished(store: TaskStore, clock: FakeClock, how: str, queue: str = "emails") -> Task:
    """A task of its own type (so that no other task is leased instead), finished `how`."""
    task = await add(store, clock, queue=queue, type="finishing")
    if how == "cancelled":
        return await store.cancel(task.id, now=clock.now())
    _, lease_token = await take_one(store, clock, queue=queue, types=[FINISHING])
    if how == "dead":
        return await store.fail(task.id, lease_token, "fatal", now=clock.now())
    return await store.complete(task.id, lease_token, now=clock.now())


# -- cancel ----------------------------------------------------------------------------


async def test_cancel_of_a_pending_task_finishes_it(store: TaskStore, clock: FakeClock) -> None:
    task = await add(store, clock)
    cancelled = await store.cancel(task.id, now=clock.now())
    assert (cancelled.state, cancelled.finished_at) == (TaskState.CANCELLED, clock.now())
    assert await take(store, clock) == []


async def test_cancel_of_a_leased_task_revokes_the_lease_and_its_holder_gets_task_cancelled(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    _, lease_token = await take_one(store, clock)
    cancelled = await store.cancel(task.id, now=clock.now())
    assert (cancelled.state, cancelled.lease) == (TaskState.CANCELLED, None)
    with pytest.raises(TaskCancelled):
        await store.heartbeat(task.id, lease_token, lease_for=LEASE_FOR, now=clock.now())
    with pytest.raises(TaskCancelled):
        await store.complete(task.id, lease_token, now=clock.now())


@pytest.mark.parametrize("how", ["succeeded", "dead", "cancelled"])
async def test_cancel_of_a_finished_task_is_an_invalid_transition(
    store: TaskStore, clock: FakeClock, how: str
) -> None:
    task = await finished(store, clock, how)
    with pytest.raises(InvalidTransition):
        await store.cancel(task.id, now=clock.now())
    assert await store.get(task.id) == task


async def test_cancel_and_requeue_of_an_unknown_task_are_task_not_found(
    store: TaskStore, clock: FakeClock
) -> None:
    with pytest.raises(TaskNotFound):
        await store.cancel(UNKNOWN, now=clock.now())
    with pytest.raises(TaskNotFound):
        await store.requeue(UNKNOWN, now=clock.now())


# -- requeue ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["dead", "cancelled"])
async def test_requeue_redrives_a_dead_or_cancelled_task_ready_now_with_attempts_reset(
    store: TaskStore, clock: FakeClock, how: str
) -> None:
    task = await finished(store, clock, how)
    clock.advance(60)
    again = await store.requeue(task.id, now=clock.now())
    assert (again.state, again.attempts, again.run_at, again.finished_at) == (
        TaskState.PENDING,
        0,
        clock.now(),
        None,
    )
    granted, _ = await take_one(store, clock)
    assert granted.id == task.id and granted.epoch == task.epoch + 1


async def test_requeue_of_a_pending_leased_or_succeeded_task_is_an_invalid_transition(
    store: TaskStore, clock: FakeClock
) -> None:
    pending = await add(store, clock, queue="p")
    leased_task = await add(store, clock, queue="l")
    await take_one(store, clock, queue="l")
    done = await finished(store, clock, "succeeded")
    for task_id in (pending.id, leased_task.id, done.id):
        with pytest.raises(InvalidTransition):
            await store.requeue(task_id, now=clock.now())


# -- list ------------------------------------------------------------------------------


async def test_list_filters_by_queue_state_and_type_oldest_first(
    store: TaskStore, clock: FakeClock
) -> None:
    a = await add(store, clock, queue="emails", type="send")
    b = await add(store, clock, queue="emails", type="bounce")
    c = await add(store, clock, queue="hooks", type="send")
    dead = await finished(store, clock, "dead")

    async def ids(**filters: object) -> list[uuid.UUID]:
        return [t.id for t in (await store.list(TaskFilter(**filters))).tasks]

    assert await ids() == [a.id, b.id, c.id, dead.id]
    assert await ids(queue="emails", state=TaskState.PENDING) == [a.id, b.id]
    assert await ids(type="send") == [a.id, c.id]
    assert await ids(state=TaskState.DEAD) == [dead.id]
    assert await ids(queue="none") == []


async def test_list_pages_through_every_match_exactly_once_by_cursor(
    store: TaskStore, clock: FakeClock
) -> None:
    made = [(await add(store, clock, type="t" if i % 3 else "u")).id for i in range(10)]
    seen: list[uuid.UUID] = []
    cursor = None
    for _ in range(10):
        page = await store.list(TaskFilter(type="t", limit=3, cursor=cursor))
        assert len(page.tasks) <= 3
        seen += [t.id for t in page.tasks]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [task_id for i, task_id in enumerate(made) if i % 3]


@pytest.mark.parametrize(
    "given",
    list(itertools.product([False, True], repeat=4)),
    ids=lambda g: "".join("QSTC"[i] for i, on in enumerate(g) if on) or "none",
)
async def test_every_combination_of_filters_and_cursor_lists_exactly_its_matches(
    store: TaskStore, clock: FakeClock, given: tuple[bool, bool, bool, bool]
) -> None:
    """Each combination of filters is its own statement in the PostgreSQL store (ADR 0034):
    every one must keep exactly the conditions it was given."""
    made = []
    for queue, type_ in itertools.product(["emails", "hooks"], ["send", "bounce"]):
        made += [await add(store, clock, queue=queue, type=type_) for _ in range(2)]
    leased, _ = await take_one(store, clock, queue="emails")
    with_queue, with_state, with_type, with_cursor = given
    filters: dict[str, object] = {
        "queue": "emails" if with_queue else None,
        "state": TaskState.PENDING if with_state else None,
        "type": "send" if with_type else None,
        "cursor": str(made[1].id) if with_cursor else None,
    }
    expected = [
        t.id
        for t in made
        if (not with_queue or t.queue == "emails")
        and (not with_state or t.id != leased.id)
        and (not with_type or t.type == "send")
        and (not with_cursor or t.id > made[1].id)
    ]
    page = await store.list(TaskFilter(**filters))  # type: ignore[arg-type]
    assert [t.id for t in page.tasks] == expected and page.next_cursor is None


async def test_a_last_full_page_has_no_next_cursor(store: TaskStore, clock: FakeClock) -> None:
    for _ in range(2):
        await add(store, clock)
    page = await store.list(TaskFilter(limit=2))
    assert len(page.tasks) == 2 and page.next_cursor is None


@pytest.mark.parametrize(
    "bad",
    [{"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 100_000}],
    ids=["cursor", "limit-0", "limit-huge"],
)
async def test_list_with_a_malformed_cursor_or_limit_is_refused(
    store: TaskStore, bad: dict[str, object]
) -> None:
    with pytest.raises(ValidationError):
        await store.list(TaskFilter(**bad))


# -- stats -----------------------------------------------------------------------------


async def test_stats_count_each_state_ready_scheduled_and_the_oldest_ready_age(
    store: TaskStore, clock: FakeClock
) -> None:
    start = clock.now()
    await add(store, clock)
    await add(store, clock, run_at=start + timedelta(hours=1))
    await finished(store, clock, "dead")
    await add(store, clock, queue="hooks")
    clock.advance(7)
    await add(store, clock)
    await take(store, clock, queue="hooks")
    [emails, hooks] = await store.stats(now=clock.now())
    assert emails.queue == "emails" and hooks.queue == "hooks"
    assert emails.counts[TaskState.PENDING] == 3 and emails.counts[TaskState.DEAD] == 1
    assert emails.counts[TaskState.LEASED] == emails.counts[TaskState.SUCCEEDED] == 0
    assert (emails.ready, emails.scheduled, emails.oldest_ready_age) == (2, 1, timedelta(seconds=7))
    assert (hooks.counts[TaskState.LEASED], hooks.ready, hooks.oldest_ready_age) == (1, 0, None)


async def test_stats_of_one_queue_answers_that_queue_only(
    store: TaskStore, clock: FakeClock
) -> None:
    await add(store, clock, queue="emails")
    await add(store, clock, queue="hooks")
    [only] = await store.stats("hooks", now=clock.now())
    assert (only.queue, only.counts[TaskState.PENDING]) == ("hooks", 1)


# -- maintenance -----------------------------------------------------------------------


async def test_expire_due_moves_at_most_limit_expired_leases_and_leaves_live_ones(
    store: TaskStore, clock: FakeClock
) -> None:
    for _ in range(3):
        await add(store, clock)
    await take(store, clock)
    clock.advance(5)
    live = await add(store, clock)
    await take(store, clock)
    clock.advance(LEASE_FOR - timedelta(seconds=5))
    assert await store.expire_due(limit=2, now=clock.now()) == 2
    assert await store.expire_due(limit=2, now=clock.now()) == 1
    assert await store.expire_due(limit=2, now=clock.now()) == 0
    states = [t.state for t in (await store.list(TaskFilter())).tasks]
    assert states == [TaskState.PENDING] * 3 + [TaskState.LEASED]
    assert (await store.get(live.id)).attempts == 1


async def test_prune_deletes_at_most_limit_tasks_finished_longer_ago_than_the_retention(
    store: TaskStore, clock: FakeClock
) -> None:
    old = [await finished(store, clock, how) for how in ("succeeded", "dead", "cancelled")]
    clock.advance(60)
    recent = await finished(store, clock, "succeeded")
    pending = await add(store, clock)
    keep = timedelta(seconds=60) - timedelta(microseconds=1)  # old ones finished 60 s ago
    assert await store.prune(retention=keep, limit=2, now=clock.now()) == 2
    assert await store.prune(retention=keep, limit=2, now=clock.now()) == 1
    assert await store.prune(retention=keep, limit=2, now=clock.now()) == 0
    left = [t.id for t in (await store.list(TaskFilter())).tasks]
    assert left == [recent.id, pending.id]
    with pytest.raises(TaskNotFound):
        await store.get(old[0].id)


async def test_prune_keeps_a_task_that_finished_exactly_the_retention_ago(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await finished(store, clock, "succeeded")
    clock.advance(60)
    assert await store.prune(retention=timedelta(seconds=60), limit=10, now=clock.now()) == 0
    assert await store.get(task.id) == task


async def test_prune_with_a_negative_retention_is_refused(
    store: TaskStore, clock: FakeClock
) -> None:
    await finished(store, clock, "succeeded")
    with pytest.raises(ValidationError):
        await store.prune(retention=timedelta(seconds=-1), limit=10, now=clock.now())
    assert len((await store.list(TaskFilter())).tasks) == 1


async def test_stats_count_the_tasks_that_succeeded_or_died_in_the_last_minute(
    store: TaskStore, clock: FakeClock
) -> None:
    await finished(store, clock, "succeeded")
    await finished(store, clock, "dead")
    clock.advance(45)
    await finished(store, clock, "succeeded")
    await finished(store, clock, "succeeded")
    await finished(store, clock, "cancelled")
    clock.advance(30)  # the first two finished 75 s ago, the others 30 s ago
    [stats] = await store.stats("emails", now=clock.now())
    assert (stats.succeeded_last_minute, stats.dead_last_minute) == (2, 0)
    assert (stats.counts[TaskState.SUCCEEDED], stats.counts[TaskState.DEAD]) == (3, 1)
    clock.advance(60)
    [stats] = await store.stats("emails", now=clock.now())
    assert (stats.succeeded_last_minute, stats.dead_last_minute) == (0, 0)
