"""Store contract: the transition history of a task, written with each transition."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from leaseq.domain import TaskNotFound, TaskState, Transition, ValidationError
from leaseq.domain.history import HISTORY_ERROR_CHARS, TaskEvent
from leaseq.ports import Complete, Fail, Retry, TaskStore
from tests.contract.steps import LEASE_FOR, add, take, take_one
from tests.support import FakeClock

P, L, S, D, C = (
    TaskState.PENDING,
    TaskState.LEASED,
    TaskState.SUCCEEDED,
    TaskState.DEAD,
    TaskState.CANCELLED,
)
UNKNOWN = uuid.UUID("01900000-0000-7000-8000-ffffffffffff")


def steps(events: list[TaskEvent]) -> list[tuple[str, TaskState | None, TaskState]]:
    return [(e.transition.value, e.from_state, e.to_state) for e in events]


async def test_an_enqueued_task_has_one_enqueued_event(store: TaskStore, clock: FakeClock) -> None:
    task = await add(store, clock)
    [event] = await store.history(task.id)
    assert event == TaskEvent(
        task_id=task.id,
        at=clock.now(),
        transition=Transition.ENQUEUED,
        from_state=None,
        to_state=P,
        attempt=0,
        epoch=0,
        worker=None,
        error=None,
    )


async def test_a_deduplicated_enqueue_adds_no_event(store: TaskStore, clock: FakeClock) -> None:
    task = await add(store, clock, idempotency_key="k")
    await add(store, clock, idempotency_key="k")
    assert steps(await store.history(task.id)) == [("enqueued", None, P)]


async def test_lease_and_complete_are_recorded_with_worker_attempt_and_epoch_but_heartbeats_are_not(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    _, token = await take_one(store, clock, owner="w-7")
    clock.advance(1)
    await store.heartbeat(task.id, token, lease_for=LEASE_FOR, now=clock.now())
    clock.advance(1)
    await store.complete(task.id, token, {"ok": True}, now=clock.now())
    events = await store.history(task.id)
    assert steps(events) == [("enqueued", None, P), ("leased", P, L), ("completed", L, S)]
    leased, completed = events[1], events[2]
    assert (leased.worker, leased.attempt, leased.epoch) == ("w-7", 1, 1)
    assert (completed.worker, completed.attempt, completed.epoch, completed.at) == (
        "w-7",
        1,
        1,
        clock.now(),
    )


async def test_retry_then_retry_with_no_attempts_left_is_retried_then_dead_lettered(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock, max_attempts=2)
    _, token = await take_one(store, clock)
    await store.retry(task.id, token, "boom", delay=timedelta(0), now=clock.now())
    _, token = await take_one(store, clock)
    await store.retry(task.id, token, "boom again", now=clock.now())
    events = await store.history(task.id)
    assert steps(events) == [
        ("enqueued", None, P),
        ("leased", P, L),
        ("retried", L, P),
        ("leased", P, L),
        ("dead_lettered", L, D),
    ]
    assert [e.error for e in events] == [None, None, "boom", None, "boom again"]
    assert [e.epoch for e in events] == [0, 1, 1, 2, 2]


async def test_fail_release_cancel_and_requeue_are_recorded(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    _, token = await take_one(store, clock)
    await store.release(task.id, token, now=clock.now())
    _, token = await take_one(store, clock, owner="w-2")
    await store.fail(task.id, token, "fatal", now=clock.now())
    await store.requeue(task.id, now=clock.now())
    await store.cancel(task.id, now=clock.now())
    events = await store.history(task.id)
    assert steps(events) == [
        ("enqueued", None, P),
        ("leased", P, L),
        ("released", L, P),
        ("leased", P, L),
        ("failed", L, D),
        ("requeued", D, P),
        ("cancelled", P, C),
    ]
    assert [e.worker for e in events] == [None, "worker-1", "worker-1", "w-2", "w-2", None, None]
    assert events[2].attempt == 0 and events[5].attempt == 0


async def test_cancel_of_a_leased_task_names_the_revoked_worker(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    await take_one(store, clock, owner="w-9")
    await store.cancel(task.id, now=clock.now())
    last = (await store.history(task.id))[-1]
    assert (last.transition, last.from_state, last.to_state, last.worker) == (
        Transition.CANCELLED,
        L,
        C,
        "w-9",
    )


async def test_the_sweep_records_an_expiry_or_a_dead_letter(
    store: TaskStore, clock: FakeClock
) -> None:
    spare = await add(store, clock, type="spare", max_attempts=5)
    last = await add(store, clock, type="last", max_attempts=1)
    await take(store, clock, owner="w-1")
    clock.advance(LEASE_FOR)
    assert await store.expire_due(limit=10, now=clock.now()) == 2
    [*_, expired] = await store.history(spare.id)
    [*_, dead] = await store.history(last.id)
    assert (expired.transition, expired.from_state, expired.to_state) == ("expired", L, P)
    assert (dead.transition, dead.from_state, dead.to_state) == ("dead_lettered", L, D)
    assert expired.worker == dead.worker == "w-1"
    assert expired.error is not None and "expired" in expired.error


async def test_a_lease_of_an_expired_task_records_the_expiry_then_the_new_lease(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    await take_one(store, clock, owner="w-1")
    clock.advance(LEASE_FOR)
    await take_one(store, clock, owner="w-2")
    events = await store.history(task.id)
    assert steps(events)[-2:] == [("expired", L, P), ("leased", P, L)]
    assert [(e.worker, e.epoch, e.attempt) for e in events[-2:]] == [("w-1", 1, 1), ("w-2", 2, 2)]


async def test_a_lease_dead_letters_an_exhausted_expired_task_in_the_history(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock, max_attempts=1)
    await take_one(store, clock)
    clock.advance(LEASE_FOR)
    assert await take(store, clock) == []
    assert steps(await store.history(task.id))[-1] == ("dead_lettered", L, D)


async def test_a_batch_report_records_each_accepted_outcome(
    store: TaskStore, clock: FakeClock
) -> None:
    ids = [(await add(store, clock)).id for _ in range(3)]
    granted = {t.id: t.lease.token for t in await take(store, clock) if t.lease}
    await store.report(
        [
            Complete(ids[0], granted[ids[0]]),
            Retry(ids[1], granted[ids[1]], "later", delay=timedelta(seconds=5)),
            Fail(ids[2], "stale", "refused"),
        ],
        now=clock.now(),
    )
    assert steps(await store.history(ids[0]))[-1] == ("completed", L, S)
    assert steps(await store.history(ids[1]))[-1] == ("retried", L, P)
    assert steps(await store.history(ids[2]))[-1] == ("leased", P, L)


async def test_refused_calls_leave_no_trace(store: TaskStore, clock: FakeClock) -> None:
    task = await add(store, clock)
    await take_one(store, clock)
    with pytest.raises(Exception):  # noqa: B017 - any refusal
        await store.complete(task.id, "not-the-token", now=clock.now())
    assert len(await store.history(task.id)) == 2


async def test_long_errors_are_clipped_in_the_history(store: TaskStore, clock: FakeClock) -> None:
    task = await add(store, clock)
    _, token = await take_one(store, clock)
    await store.fail(task.id, token, "x" * 5000, now=clock.now())
    last = (await store.history(task.id))[-1]
    assert last.error == "x" * HISTORY_ERROR_CHARS


async def test_history_limit_keeps_the_most_recent_events_oldest_first(
    store: TaskStore, clock: FakeClock
) -> None:
    task = await add(store, clock)
    for _ in range(3):
        _, token = await take_one(store, clock)
        await store.release(task.id, token, now=clock.now())
    events = await store.history(task.id, limit=2)
    assert steps(events) == [("leased", P, L), ("released", L, P)]
    assert events == (await store.history(task.id))[-2:]


async def test_history_of_an_unknown_task_is_task_not_found(store: TaskStore) -> None:
    with pytest.raises(TaskNotFound):
        await store.history(UNKNOWN)


@pytest.mark.parametrize("limit", [0, 1001])
async def test_history_limit_out_of_range_is_a_validation_error(
    store: TaskStore, clock: FakeClock, limit: int
) -> None:
    task = await add(store, clock)
    with pytest.raises(ValidationError):
        await store.history(task.id, limit=limit)


async def test_pruning_a_task_deletes_its_history(store: TaskStore, clock: FakeClock) -> None:
    task = await add(store, clock)
    await store.cancel(task.id, now=clock.now())
    clock.advance(60)
    assert await store.prune(retention=timedelta(0), limit=10, now=clock.now()) == 1
    with pytest.raises(TaskNotFound):
        await store.history(task.id)
