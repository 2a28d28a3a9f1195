"""Every transition of leaseq.domain.transitions: its success path and each refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from leaseq.domain import (
    InvalidTransition,
    LeaseConflict,
    LeaseExpired,
    LeaseLost,
    RetryPolicy,
    Task,
    TaskCancelled,
    TaskState,
    claims,
)
from leaseq.domain import transitions as tr
from tests.support import T0
from tests.unit.given import EXPIRY, LEASE_FOR, TASK_ID, TERMINAL, TOKEN, leased, pending

LATER = T0 + timedelta(seconds=5)

FencedCall = Callable[[Task, str, object], Task]

FENCED: dict[str, FencedCall] = {
    "heartbeat": lambda t, token, now: tr.heartbeat(t, token=token, now=now, lease_for=LEASE_FOR),
    "complete": lambda t, token, now: tr.complete(t, token=token, now=now, result=1),
    "retry": lambda t, token, now: tr.retry(
        t, token=token, now=now, error="e", delay=None, jitter_draw=0.0
    ),
    "fail": lambda t, token, now: tr.fail(t, token=token, now=now, error="e"),
    "release": lambda t, token, now: tr.release(t, token=token, now=now),
}
fenced_calls = pytest.mark.parametrize("call", list(FENCED.values()), ids=list(FENCED))


# -- enqueue ---------------------------------------------------------------------------


def test_new_task_is_pending_ready_now_with_no_attempts_and_no_lease() -> None:
    task = pending()
    assert (task.state, task.run_at, task.attempts, task.epoch) == (TaskState.PENDING, T0, 0, 0)
    assert task.lease is None and task.finished_at is None
    assert task.is_ready(T0)


def test_new_task_with_run_at_is_scheduled_until_then() -> None:
    task = pending(run_at=LATER)
    assert not task.is_ready(T0)
    assert task.is_ready(LATER)


# -- lease (grant) ---------------------------------------------------------------------


def test_lease_grants_a_due_task_one_attempt_a_new_epoch_and_an_expiry() -> None:
    task = leased()
    assert task.state is TaskState.LEASED
    assert (task.attempts, task.epoch) == (1, 1)
    assert task.lease is not None
    assert (task.lease.token, task.lease.epoch, task.lease.expires_at) == (TOKEN, 1, EXPIRY)


def test_lease_of_a_scheduled_task_is_refused_as_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        leased(pending(run_at=LATER))


def test_lease_of_a_task_with_a_live_lease_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        leased(leased(), token="other", now=LATER)


def test_lease_of_an_expired_lease_is_refused_until_it_passes_through_expire() -> None:
    with pytest.raises(InvalidTransition, match="expired"):
        leased(leased(), token="other", now=EXPIRY)
    regranted = leased(tr.expire(leased(), now=EXPIRY), token="other", now=EXPIRY)
    assert (regranted.attempts, regranted.epoch) == (2, 2)


@pytest.mark.parametrize("make", list(TERMINAL.values()), ids=list(TERMINAL))
def test_lease_of_a_finished_task_is_refused(make: Callable[[], Task]) -> None:
    with pytest.raises(InvalidTransition):
        leased(make(), now=LATER)


# -- the fence -------------------------------------------------------------------------


@fenced_calls
def test_fenced_call_with_a_wrong_token_is_refused_as_lease_lost(call: FencedCall) -> None:
    with pytest.raises(LeaseLost):
        call(leased(), "not-the-token", LATER)


@fenced_calls
def test_fenced_call_with_a_stale_token_is_refused_as_lease_lost(call: FencedCall) -> None:
    regranted = leased(tr.expire(leased(), now=EXPIRY), token="newer", now=EXPIRY)
    with pytest.raises(LeaseLost):
        call(regranted, TOKEN, EXPIRY)


@fenced_calls
def test_fenced_call_at_the_expiry_instant_is_refused_as_lease_expired(call: FencedCall) -> None:
    with pytest.raises(LeaseExpired):
        call(leased(), TOKEN, EXPIRY)


@fenced_calls
def test_fenced_call_after_the_expiry_sweep_is_refused_as_lease_expired(call: FencedCall) -> None:
    swept = tr.expire(leased(), now=EXPIRY)
    with pytest.raises(LeaseExpired):
        call(swept, TOKEN, EXPIRY + timedelta(seconds=1))


@fenced_calls
def test_fenced_call_on_a_cancelled_task_is_refused_as_task_cancelled(call: FencedCall) -> None:
    with pytest.raises(TaskCancelled):
        call(tr.cancel(leased(), now=LATER), TOKEN, LATER)


@fenced_calls
def test_fenced_call_on_a_pending_task_is_refused_as_lease_lost(call: FencedCall) -> None:
    with pytest.raises(LeaseLost):
        call(pending(), TOKEN, T0)


@fenced_calls
@pytest.mark.parametrize("make", list(TERMINAL.values()), ids=list(TERMINAL))
def test_fenced_call_on_a_finished_task_is_refused(
    call: FencedCall, make: Callable[[], Task]
) -> None:
    with pytest.raises(LeaseConflict):
        call(make(), TOKEN, LATER)


def test_complete_with_stale_token_is_refused_as_lease_lost() -> None:
    regranted = leased(tr.expire(leased(), now=EXPIRY), token="newer", now=EXPIRY)
    with pytest.raises(LeaseLost):
        tr.complete(regranted, token=TOKEN, now=EXPIRY)


def test_a_second_different_complete_with_the_same_token_is_refused_as_lease_lost() -> None:
    done = tr.complete(leased(), token=TOKEN, now=LATER)
    with pytest.raises(LeaseLost):
        tr.complete(done, token=TOKEN, now=LATER, result="another result")


def test_a_lease_that_expired_into_dead_refuses_its_holder_as_lease_expired() -> None:
    last = leased(max_attempts=1)
    with pytest.raises(LeaseExpired):
        tr.complete(tr.expire(last, now=EXPIRY), token=TOKEN, now=EXPIRY)


# -- heartbeat, complete, retry, fail, release -----------------------------------------


def test_heartbeat_extends_the_lease_from_now_and_keeps_token_and_epoch() -> None:
    task = tr.heartbeat(leased(), token=TOKEN, now=LATER, lease_for=timedelta(minutes=2))
    assert task.lease is not None
    assert task.lease.expires_at == LATER + timedelta(minutes=2)
    assert (task.lease.token, task.lease.epoch, task.attempts) == (TOKEN, 1, 1)
    assert task.state is TaskState.LEASED


def test_complete_succeeds_stores_the_result_and_drops_the_lease() -> None:
    task = tr.complete(leased(), token=TOKEN, now=LATER, result={"sent": 1})
    assert (task.state, task.result, task.finished_at) == (TaskState.SUCCEEDED, {"sent": 1}, LATER)
    assert task.lease is None


def test_retry_with_a_delay_is_pending_at_now_plus_delay_and_keeps_the_attempt() -> None:
    task = tr.retry(
        leased(),
        token=TOKEN,
        now=LATER,
        error="smtp down",
        delay=timedelta(minutes=1),
        jitter_draw=0.5,
    )
    assert (task.state, task.run_at, task.attempts) == (
        TaskState.PENDING,
        LATER + timedelta(minutes=1),
        1,
    )
    assert (task.last_error, task.lease, task.finished_at) == ("smtp down", None, None)


def test_retry_without_a_delay_waits_the_policy_backoff() -> None:
    policy = RetryPolicy(base_seconds=10, factor=2, max_seconds=100, jitter=0.5)
    task = tr.retry(
        leased(retry_policy=policy),
        token=TOKEN,
        now=LATER,
        error="e",
        delay=None,
        jitter_draw=0.5,
    )
    assert task.run_at == LATER + policy.delay(1, 0.5) == LATER + timedelta(seconds=7.5)


def test_retry_on_the_last_attempt_sends_the_task_dead_with_the_error() -> None:
    task = tr.retry(
        leased(max_attempts=1),
        token=TOKEN,
        now=LATER,
        error="gave up",
        delay=None,
        jitter_draw=0.0,
    )
    assert (task.state, task.last_error, task.finished_at) == (TaskState.DEAD, "gave up", LATER)
    assert task.lease is None


def test_fail_sends_the_task_dead_with_the_error_whatever_attempts_are_left() -> None:
    task = tr.fail(leased(max_attempts=5), token=TOKEN, now=LATER, error="bad payload")
    assert (task.state, task.last_error, task.finished_at) == (TaskState.DEAD, "bad payload", LATER)


def test_release_gives_the_attempt_back_and_keeps_the_task_ready_in_its_place() -> None:
    task = tr.release(leased(), token=TOKEN, now=LATER)
    assert (task.state, task.attempts, task.run_at, task.epoch) == (TaskState.PENDING, 0, T0, 1)
    assert task.lease is None and task.is_ready(LATER)


# -- expire ----------------------------------------------------------------------------


def test_expire_makes_the_task_pending_from_its_expiry_and_keeps_the_attempt() -> None:
    task = tr.expire(leased(), now=EXPIRY + timedelta(seconds=3))
    assert (task.state, task.run_at, task.attempts) == (TaskState.PENDING, EXPIRY, 1)
    assert task.last_error == tr.EXPIRED_ERROR
    assert task.lease is not None and task.lease.token == TOKEN


def test_expire_with_no_attempts_left_sends_the_task_dead() -> None:
    task = tr.expire(leased(max_attempts=1), now=EXPIRY)
    assert (task.state, task.finished_at, task.last_error) == (
        TaskState.DEAD,
        EXPIRY,
        tr.EXPIRED_ERROR,
    )


def test_expire_of_a_live_lease_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        tr.expire(leased(), now=EXPIRY - timedelta(microseconds=1))


@pytest.mark.parametrize("make", [pending, *TERMINAL.values()], ids=["pending", *TERMINAL])
def test_expire_of_a_task_without_a_lease_running_is_refused(make: Callable[[], Task]) -> None:
    with pytest.raises(InvalidTransition):
        tr.expire(make(), now=EXPIRY + timedelta(hours=1))


# -- cancel and requeue ----------------------------------------------------------------


@pytest.mark.parametrize("make", [pending, leased], ids=["pending", "leased"])
def test_cancel_of_a_live_task_cancels_it_and_revokes_any_lease(make: Callable[[], Task]) -> None:
    task = tr.cancel(make(), now=LATER)
    assert (task.state, task.finished_at, task.lease) == (TaskState.CANCELLED, LATER, None)


@pytest.mark.parametrize("make", list(TERMINAL.values()), ids=list(TERMINAL))
def test_cancel_of_a_finished_task_is_refused(make: Callable[[], Task]) -> None:
    with pytest.raises(InvalidTransition):
        tr.cancel(make(), now=LATER)


@pytest.mark.parametrize("name", ["dead", "cancelled"])
def test_requeue_redrives_a_dead_or_cancelled_task_ready_now_with_attempts_reset(name: str) -> None:
    task = tr.requeue(TERMINAL[name](), now=LATER)
    assert (task.state, task.attempts, task.run_at) == (TaskState.PENDING, 0, LATER)
    assert (task.lease, task.finished_at, task.result, task.epoch) == (None, None, None, 1)


@pytest.mark.parametrize(
    "make", [pending, leased, TERMINAL["succeeded"]], ids=["pending", "leased", "succeeded"]
)
def test_requeue_of_a_task_that_is_not_dead_or_cancelled_is_refused(
    make: Callable[[], Task],
) -> None:
    with pytest.raises(InvalidTransition) as refused:
        tr.requeue(make(), now=LATER)
    assert refused.value.task_id == TASK_ID


# -- claimability and order ------------------------------------------------------------


def test_an_expired_lease_is_claimable_only_while_attempts_are_left() -> None:
    assert claims.is_claimable(leased(max_attempts=2), EXPIRY)
    assert not claims.is_claimable(leased(max_attempts=1), EXPIRY)
    assert not claims.is_claimable(leased(max_attempts=2), EXPIRY - timedelta(microseconds=1))


def test_claim_order_is_priority_first_then_run_at_then_id() -> None:
    urgent = pending(priority=5, run_at=LATER)
    early = pending(run_at=T0)
    late = pending(run_at=LATER)
    assert sorted([late, early, urgent], key=claims.claim_order) == [urgent, early, late]


def test_claim_order_ranks_an_expired_lease_from_its_expiry_instant() -> None:
    expired = leased()
    assert claims.claim_order(expired)[1] == EXPIRY == tr.expire(expired, now=EXPIRY).run_at
