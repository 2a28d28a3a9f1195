"""A repeated report or lease request gets the first answer again; nothing else does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leaseq.domain import (
    LeaseExpired,
    LeaseLost,
    ReportRepeated,
    Task,
    TaskCancelled,
    TaskState,
    repeats,
)
from leaseq.domain import transitions as tr
from tests.support import T0
from tests.unit.given import LEASE_FOR, TOKEN, leased

LATER = T0 + timedelta(seconds=5)
MUCH_LATER = T0 + timedelta(hours=2)


def repeat_of(call: object) -> Task:
    with pytest.raises(ReportRepeated) as repeat:
        call()  # type: ignore[operator]
    return repeat.value.task


def test_a_repeated_complete_answers_the_task_as_the_first_complete_left_it() -> None:
    done = tr.complete(leased(), token=TOKEN, now=LATER, result={"a": 1, "b": [2]})
    again = repeat_of(
        lambda: tr.complete(done, token=TOKEN, now=MUCH_LATER, result={"b": [2], "a": 1})
    )
    assert again == done  # key order does not make it another report


@pytest.mark.parametrize(
    "other",
    [
        lambda t: tr.complete(t, token=TOKEN, now=LATER, result={"a": 2}),
        lambda t: tr.fail(t, token=TOKEN, now=LATER, error="boom"),
        lambda t: tr.release(t, token=TOKEN, now=LATER),
        lambda t: tr.complete(t, token="token-other", now=LATER, result={"a": 1}),
    ],
    ids=["another result", "another outcome", "a release", "another token"],
)
def test_a_different_report_with_a_spent_token_stays_lease_lost(other) -> None:  # type: ignore[no-untyped-def]
    done = tr.complete(leased(), token=TOKEN, now=LATER, result={"a": 1})
    with pytest.raises(LeaseLost):
        other(done)


def test_a_retry_repeats_only_with_the_same_error_and_delay() -> None:
    def retry(task: Task, error: str, delay: timedelta | None) -> Task:
        return tr.retry(task, token=TOKEN, now=LATER, error=error, delay=delay, jitter_draw=0.5)

    first = retry(leased(), "e", timedelta(seconds=3))
    assert repeat_of(lambda: retry(first, "e", timedelta(seconds=3))) == first
    for error, delay in [("e", None), ("e", timedelta(seconds=4)), ("f", timedelta(seconds=3))]:
        with pytest.raises(LeaseLost):
            retry(first, error, delay)


def test_a_repeat_after_the_task_moved_on_still_answers_the_task_as_the_report_left_it() -> None:
    released = tr.release(leased(), token=TOKEN, now=LATER)
    # another worker holds it now
    taken = tr.grant(released, now=LATER, owner="worker-2", token="token-2", lease_for=LEASE_FOR)
    assert repeat_of(lambda: tr.release(taken, token=TOKEN, now=LATER)) == released
    cancelled = tr.cancel(taken, now=LATER)
    assert repeat_of(lambda: tr.release(cancelled, token=TOKEN, now=LATER)) == released


def test_a_repeat_of_a_failure_after_a_requeue_answers_the_dead_task_it_left() -> None:
    dead = tr.fail(leased(), token=TOKEN, now=LATER, error="fatal")
    requeued = tr.requeue(dead, now=MUCH_LATER)
    assert requeued.state is TaskState.PENDING
    assert repeat_of(lambda: tr.fail(requeued, token=TOKEN, now=MUCH_LATER, error="fatal")) == dead


def test_only_the_report_that_ended_the_most_recent_report_ended_lease_repeats() -> None:
    first = tr.retry(leased(), token=TOKEN, now=LATER, error="e", delay=timedelta(0), jitter_draw=0)
    second = tr.complete(leased(first, token="token-2", now=LATER), token="token-2", now=LATER)
    assert repeat_of(lambda: tr.complete(second, token="token-2", now=LATER)) == second
    with pytest.raises(LeaseLost):
        tr.retry(second, token=TOKEN, now=LATER, error="e", delay=timedelta(0), jitter_draw=0)


def test_a_repeat_is_answered_before_the_cancellation_that_followed_it() -> None:
    retried = tr.retry(leased(), token=TOKEN, now=LATER, error="e", delay=None, jitter_draw=0)
    cancelled = tr.cancel(retried, now=LATER)
    again = repeat_of(
        lambda: tr.retry(cancelled, token=TOKEN, now=LATER, error="e", delay=None, jitter_draw=0)
    )
    assert again == retried
    with pytest.raises(TaskCancelled):
        tr.fail(cancelled, token=TOKEN, now=LATER, error="e")


def test_a_report_never_applied_is_not_taken_for_a_repeat() -> None:
    expired = tr.expire(leased(), now=T0 + LEASE_FOR)
    with pytest.raises(LeaseExpired):
        tr.complete(expired, token=TOKEN, now=T0 + LEASE_FOR)


def test_a_repeated_lease_request_names_its_live_grants_only() -> None:
    task = leased()
    tagged = tr.grant(
        tr.release(task, token=TOKEN, now=T0),
        now=T0,
        owner="worker-1",
        token="token-2",
        lease_for=LEASE_FOR,
        request_id="req-1",
    )
    assert repeats.granted_to(tagged, owner="worker-1", request_id="req-1", now=LATER)
    assert not repeats.granted_to(tagged, owner="worker-2", request_id="req-1", now=LATER)
    assert not repeats.granted_to(tagged, owner="worker-1", request_id="req-2", now=LATER)
    assert not repeats.granted_to(tagged, owner="worker-1", request_id=None, now=LATER)
    assert not repeats.granted_to(tagged, owner="worker-1", request_id="req-1", now=T0 + LEASE_FOR)
    done = tr.complete(tagged, token="token-2", now=LATER)
    assert not repeats.granted_to(done, owner="worker-1", request_id="req-1", now=LATER)
