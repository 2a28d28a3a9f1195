"""Store contract: heartbeat, complete, retry, fail, release, report, and the fence."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from leaseq.domain import (
    DomainError,
    LeaseExpired,
    LeaseLost,
    ReportedTask,
    ReportRepeated,
    RetryPolicy,
    Task,
    TaskCancelled,
    TaskNotFound,
    TaskState,
    ValidationError,
)
from leaseq.ports import Complete, Fail, LeaseRequest, Retry, TaskStore
from tests.contract.steps import LEASE_FOR, add, take_one
from tests.support import FakeClock

UNKNOWN = uuid.UUID("01900000-0000-7000-8000-ffffffffffff")

Fenced = Callable[[TaskStore, uuid.UUID, str, datetime], Awaitable[Task]]

FENCED: dict[str, Fenced] = {
    "heartbeat": lambda s, i, t, now: s.heartbeat(i, t, lease_for=LEASE_FOR, now=now),
    "complete": lambda s, i, t, now: s.complete(i, t, {"ok": True}, now=now),
    "retry": lambda s, i, t, now: s.retry(i, t, "boom", now=now),
    "fail": lambda s, i, t, now: s.fail(i, t, "fatal", now=now),
    "release": lambda s, i, t, now: s.release(i, t, now=now),
}
fenced_calls = pytest.mark.parametrize("call", list(FENCED.values()), ids=list(FENCED))


async def leased(store: TaskStore, clock: FakeClock, **fields: object) -> tuple[Task, str]:
    await add(store, clock, **fields)
    return await take_one(store, clock)


# -- the fence, for every fenced call --------------------------------------------------


@fenced_calls
async def test_fenced_call_with_a_wrong_token_is_refused_as_lease_lost_and_changes_nothing(
    store: TaskStore, clock: FakeClock, call: Fenced
) -> None:
    task, _ = await leased(store, clock)
    with pytest.raises(LeaseLost):
        await call(store, task.id, "not-the-token", clock.now())
    assert await store.get(task.id) == task


@fenced_calls
async def test_fenced_call_with_a_stale_token_is_refused_as_lease_lost(
    store: TaskStore, clock: FakeClock, call: Fenced
) -> None:
    task, stale = await leased(store, clock)
    clock.advance(LEASE_FOR)
    await take_one(store, clock)
    with pytest.raises(LeaseLost):
        await call(store, task.id, stale, clock.now())


@fenced_calls
async def test_fenced_call_once_the_lease_ran_out_is_refused_as_lease_expired(
    store: TaskStore, clock: FakeClock, call: Fenced
) -> None:
    task, lease_token = await leased(store, clock)
    clock.advance(LEASE_FOR)
    with pytest.raises(LeaseExpired):
        await call(store, task.id, lease_token, clock.now())


@fenced_calls
async def test_fenced_call_after_the_expiry_sweep_is_refused_as_lease_expired(
    store: TaskStore, clock: FakeClock, call: Fenced
) -> None:
    task, lease_token = await leased(store, clock)
    clock.advance(LEASE_FOR)
    assert await store.expire_due(limit=10, now=clock.now()) == 1
    with pytest.raises(LeaseExpired):
        await call(store, task.id, lease_token, clock.now())


@fenced_calls
async def test_fenced_call_on_a_cancelled_task_is_refused_as_task_cancelled(
    store: TaskStore, clock: FakeClock, call: Fenced
) -> None:
    task, lease_token = await leased(store, clock)
    await store.cancel(task.id, now=clock.now())
    with pytest.raises(TaskCancelled):
        await call(store, task.id, lease_token, clock.now())


@fenced_calls
async def test_fenced_call_after_the_task_succeeded_is_refused_as_lease_lost(
    store: TaskStore, clock: FakeClock, call: Fenced
) -> None:
    task, lease_token = await leased(store, clock)
    done = await store.complete(task.id, lease_token, now=clock.now())
    with pytest.raises(LeaseLost):
        await call(store, task.id, lease_token, clock.now())
    assert await store.get(task.id) == done


@fenced_calls
async def test_fenced_call_on_an_unknown_task_is_task_not_found(
    store: TaskStore, clock: FakeClock, call: Fenced
) -> None:
    with pytest.raises(TaskNotFound):
        await call(store, UNKNOWN, "any", clock.now())


# -- each call's effect ----------------------------------------------------------------


async def test_heartbeat_extends_the_lease_from_now(store: TaskStore, clock: FakeClock) -> None:
    task, lease_token = await leased(store, clock)
    clock.advance(20)
    beat = await store.heartbeat(
        task.id, lease_token, lease_for=timedelta(minutes=5), now=clock.now()
    )
    assert beat.lease is not None and beat.lease.expires_at == clock.now() + timedelta(minutes=5)
    clock.advance(60)  # past the first expiry, within the extension
    await store.complete(task.id, lease_token, now=clock.now())


async def test_heartbeat_with_a_malformed_lease_duration_is_refused(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock)
    with pytest.raises(ValidationError):
        await store.heartbeat(task.id, lease_token, lease_for=timedelta(0), now=clock.now())
    assert await store.get(task.id) == task


async def test_complete_stores_the_result_and_finishes_the_task(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock)
    clock.advance(1)
    done = await store.complete(task.id, lease_token, {"sent": [1, 2]}, now=clock.now())
    assert (done.state, done.result, done.finished_at) == (
        TaskState.SUCCEEDED,
        {"sent": [1, 2]},
        clock.now(),
    )
    assert await store.get(task.id) == done


async def test_complete_with_an_invalid_result_is_refused_and_keeps_the_lease(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock)
    with pytest.raises(ValidationError):
        await store.complete(task.id, lease_token, {"x": float("inf")}, now=clock.now())
    assert await store.get(task.id) == task


async def test_retry_with_a_delay_makes_the_task_pending_until_then(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock)
    again = await store.retry(
        task.id, lease_token, "smtp down", delay=timedelta(seconds=9), now=clock.now()
    )
    assert (again.state, again.run_at, again.attempts) == (
        TaskState.PENDING,
        clock.now() + timedelta(seconds=9),
        1,
    )
    assert again.last_error == "smtp down" and again.lease is None


async def test_retry_without_a_delay_waits_the_policy_backoff_for_the_jitter_draw(
    store: TaskStore, clock: FakeClock
) -> None:
    policy = RetryPolicy(base_seconds=4, factor=2, max_seconds=60, jitter=0.5)
    task, lease_token = await leased(store, clock, retry_policy=policy)
    again = await store.retry(task.id, lease_token, "e", jitter_draw=0.25, now=clock.now())
    assert again.run_at == clock.now() + timedelta(seconds=2.5)


async def test_retry_with_a_negative_delay_is_refused_and_keeps_the_lease(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock)
    with pytest.raises(ValidationError):
        await store.retry(task.id, lease_token, "e", delay=timedelta(seconds=-1), now=clock.now())
    assert await store.get(task.id) == task


async def test_retry_on_the_last_attempt_sends_the_task_dead(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock, max_attempts=2)
    await store.retry(task.id, lease_token, "first", delay=timedelta(0), now=clock.now())
    _, second_token = await take_one(store, clock)
    dead = await store.retry(task.id, second_token, "second", now=clock.now())
    assert (dead.state, dead.attempts, dead.last_error) == (TaskState.DEAD, 2, "second")
    assert dead.finished_at == clock.now()


async def test_an_expiry_on_the_last_attempt_sends_the_task_dead(
    store: TaskStore, clock: FakeClock
) -> None:
    task, _ = await leased(store, clock, max_attempts=1)
    clock.advance(LEASE_FOR)
    assert await store.expire_due(limit=10, now=clock.now()) == 1
    assert (await store.get(task.id)).state is TaskState.DEAD


async def test_fail_sends_the_task_dead_with_its_error(store: TaskStore, clock: FakeClock) -> None:
    task, lease_token = await leased(store, clock, max_attempts=10)
    dead = await store.fail(task.id, lease_token, "bad payload", now=clock.now())
    assert (dead.state, dead.last_error, dead.finished_at) == (
        TaskState.DEAD,
        "bad payload",
        clock.now(),
    )


async def test_release_gives_the_attempt_back_and_the_task_is_ready_at_once(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock, max_attempts=1)
    released = await store.release(task.id, lease_token, now=clock.now())
    assert (released.state, released.attempts, released.lease) == (TaskState.PENDING, 0, None)
    again, _ = await take_one(store, clock)
    assert (again.id, again.attempts, again.epoch) == (task.id, 1, 2)


async def test_an_over_long_error_text_is_kept_shortened_not_refused(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock)
    dead = await store.fail(task.id, lease_token, "x" * 100_000, now=clock.now())
    assert dead.last_error is not None and 0 < len(dead.last_error) < 100_000


# -- report ----------------------------------------------------------------------------


async def test_report_applies_each_outcome_and_answers_each_refusal_in_order(
    store: TaskStore, clock: FakeClock
) -> None:
    for _ in range(4):
        await add(store, clock)
    [(a, ta), (b, tb), (c, _), (d, td)] = [await take_one(store, clock) for _ in range(4)]
    answers = await store.report(
        [
            Complete(a.id, ta, {"n": 1}),
            Retry(b.id, tb, "later", delay=timedelta(seconds=3)),
            Fail(c.id, "wrong-token", "x"),
            Complete(UNKNOWN, "t"),
            Complete(d.id, td, {"bad": float("nan")}),
            Fail(a.id, ta, "after complete"),
        ],
        now=clock.now(),
    )
    kinds = [type(x).__name__ if isinstance(x, DomainError) else x.state for x in answers]
    assert kinds == [
        TaskState.SUCCEEDED,
        TaskState.PENDING,
        "LeaseLost",
        "TaskNotFound",
        "ValidationError",
        "LeaseLost",
    ]
    assert [(await store.get(t.id)).state for t in (a, b, c, d)] == [
        TaskState.SUCCEEDED,
        TaskState.PENDING,
        TaskState.LEASED,
        TaskState.LEASED,
    ]
    assert answers[0] == ReportedTask.of(await store.get(a.id))


async def test_report_with_tasks_answers_each_whole_task_as_the_outcome_left_it(
    store: TaskStore, clock: FakeClock
) -> None:
    """ADR 0037: a report answers a task's state and its few fields; asked `with_tasks`,
    the whole task as well, as it is stored, on `report` and on `report_and_lease`."""
    for _ in range(4):
        await add(store, clock)
    [(a, ta), (b, tb), (c, tc), (d, td)] = [await take_one(store, clock) for _ in range(4)]
    outcomes = [
        Complete(a.id, ta, {"n": 1}),
        Retry(b.id, tb, "later", delay=timedelta(seconds=3)),
        Fail(c.id, "wrong-token", "x"),
    ]
    answers = await store.report(outcomes, with_tasks=True, now=clock.now())
    assert isinstance(answers[2], LeaseLost)
    for answer, task in zip(answers[:2], (a, b), strict=True):
        assert isinstance(answer, ReportedTask)
        stored = await store.get(task.id)
        assert answer.task == stored and answer == ReportedTask.of(stored, whole=True)
    assert isinstance(answers[0], ReportedTask) and answers[0].task is not None
    assert answers[0].task.result == {"n": 1}
    riding, _ = await store.report_and_lease(
        [Fail(d.id, td, "fatal")], _request(1), with_tasks=True, now=clock.now()
    )
    [answer] = riding
    assert isinstance(answer, ReportedTask) and answer.task is not None
    assert answer.task == await store.get(d.id)
    assert answer.task.state is TaskState.DEAD and answer.task.last_error == "fatal"
    brief, _ = await store.report_and_lease([Complete(c.id, tc)], _request(1), now=clock.now())
    assert brief == [ReportedTask.of(await store.get(c.id))]  # no whole task: not asked


# -- report_and_lease (ADR 0033) --------------------------------------------------------


def _request(limit: int, **fields: object) -> LeaseRequest:
    return LeaseRequest("emails", "worker-1", limit, LEASE_FOR, **fields)  # type: ignore[arg-type]


async def test_report_and_lease_applies_the_outcomes_then_grants_in_one_call(
    store: TaskStore, clock: FakeClock
) -> None:
    for _ in range(3):
        await add(store, clock)
    (a, ta), (b, _) = [await take_one(store, clock) for _ in range(2)]
    answers, granted = await store.report_and_lease(
        [Complete(a.id, ta, {"n": 1}), Fail(b.id, "wrong-token", "x")], _request(5), now=clock.now()
    )
    assert [type(x).__name__ if isinstance(x, DomainError) else x.state for x in answers] == [
        TaskState.SUCCEEDED,
        "LeaseLost",
    ]
    assert answers[0] == ReportedTask.of(await store.get(a.id))
    assert len(granted) == 1 and granted[0].state is TaskState.LEASED
    assert granted[0].id not in (a.id, b.id)
    assert (await store.get(b.id)).state is TaskState.LEASED  # refused: untouched


async def test_report_and_lease_claims_what_its_own_outcomes_made_ready(
    store: TaskStore, clock: FakeClock
) -> None:
    """The outcomes come first: a task retried at once is ready for the claim that follows."""
    task, lease_token = await leased(store, clock)
    retried = Retry(task.id, lease_token, "again", delay=timedelta(0))
    answers, granted = await store.report_and_lease([retried], _request(1), now=clock.now())
    assert isinstance(answers[0], ReportedTask) and answers[0].state is TaskState.PENDING
    assert [t.id for t in granted] == [task.id]
    assert granted[0].attempts == 2 and granted[0].lease is not None
    assert granted[0].lease.token != lease_token


async def test_report_and_lease_refused_as_a_lease_request_applies_no_outcome(
    store: TaskStore, clock: FakeClock
) -> None:
    task, lease_token = await leased(store, clock)
    with pytest.raises(ValidationError):
        await store.report_and_lease([Complete(task.id, lease_token)], _request(0), now=clock.now())
    assert (await store.get(task.id)).state is TaskState.LEASED


async def test_report_and_lease_repeated_answers_the_first_call_and_its_grants(
    store: TaskStore, clock: FakeClock
) -> None:
    """A re-send after a lost answer: the outcome's first answer, the request's live grants."""
    for _ in range(3):
        await add(store, clock)
    task, lease_token = await take_one(store, clock)
    outcome = [Complete(task.id, lease_token, {"n": 1})]
    first = await store.report_and_lease(
        outcome, _request(1, request_id="r1"), with_tasks=True, now=clock.now()
    )
    again = await store.report_and_lease(
        outcome, _request(1, request_id="r1", repeat=True), now=clock.now()
    )
    assert isinstance(again[0][0], ReportRepeated) and isinstance(first[0][0], ReportedTask)
    assert again[0][0].task == first[0][0].task is not None  # the whole first answer
    assert [t.id for t in again[1]] == [t.id for t in first[1]]
    assert len(first[1]) == 1
