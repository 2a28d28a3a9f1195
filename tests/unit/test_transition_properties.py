"""Properties of the transitions over random walks: bounds, fencing and terminal states."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leaseq.domain import (
    DomainError,
    LeaseConflict,
    LeaseExpired,
    ReportRepeated,
    Task,
    TaskState,
)
from leaseq.domain import transitions as tr
from tests.support import T0
from tests.unit.given import LEASE_FOR, TOKEN, leased, pending
from tests.unit.test_transitions import FENCED

FENCED_NAMES = sorted(FENCED)

actions = st.one_of(
    st.tuples(st.just("lease"), st.integers(1, 120)),
    st.tuples(st.sampled_from(FENCED_NAMES), st.sampled_from(["current", "stale", "random"])),
    st.tuples(st.sampled_from(["expire", "cancel", "requeue"]), st.none()),
    st.tuples(st.just("advance"), st.integers(0, 90)),
)


def accepts(task: Task, token: str, now: datetime) -> bool:
    """What the fence must decide, stated independently of check_fence."""
    lease = task.lease
    return (
        task.state is TaskState.LEASED
        and lease is not None
        and lease.token == token
        and now < lease.expires_at
    )


def pick_token(task: Task, which: str, granted: list[str]) -> str:
    if which == "current" and task.lease is not None:
        return task.lease.token
    if which == "stale" and len(granted) > 1:
        return granted[0]
    return "random-token"


def check_invariants(before: Task, after: Task) -> None:
    assert 0 <= after.attempts <= after.max_attempts
    assert after.epoch >= before.epoch
    if after.state is TaskState.LEASED:
        assert after.lease is not None and after.lease.epoch == after.epoch
    if after.state is TaskState.PENDING:
        assert after.attempts < after.max_attempts
    assert (after.finished_at is not None) == after.state.is_terminal


@given(st.integers(1, 4), st.lists(actions, max_size=40))
def test_random_walks_keep_attempts_bounded_and_the_fence_exact(
    max_attempts: int, walk: list[tuple[str, object]]
) -> None:
    task, now, granted = pending(max_attempts=max_attempts), T0, []
    for name, arg in walk:
        before = task
        if name == "advance":
            now += timedelta(seconds=int(arg))
            continue
        try:
            if name == "lease":
                token = f"token-{len(granted)}"
                task = tr.grant(task, now=now, owner="w", token=token, lease_for=LEASE_FOR)
                granted.append(token)
            elif name in FENCED:
                token = pick_token(task, str(arg), granted)
                should_accept = accepts(task, token, now)
                try:
                    task = FENCED[name](task, token, now)
                except LeaseConflict:
                    assert not should_accept
                else:
                    assert should_accept
            elif name == "expire":
                task = tr.expire(task, now=now)
            elif name == "cancel":
                task = tr.cancel(task, now=now)
            else:
                task = tr.requeue(task, now=now)
        except DomainError:
            assert task is before
        check_invariants(before, task)


@given(
    st.sampled_from(FENCED_NAMES),
    st.integers(1, 24 * 3600),
    st.integers(0, 10**9),
)
def test_an_expired_lease_is_never_accepted(name: str, lease_seconds: int, late_us: int) -> None:
    lease_for = timedelta(seconds=lease_seconds)
    task = tr.grant(pending(), now=T0, owner="w", token=TOKEN, lease_for=lease_for)
    now = T0 + lease_for + timedelta(microseconds=late_us)
    try:
        FENCED[name](task, TOKEN, now)
    except LeaseExpired:
        return
    raise AssertionError(f"{name} accepted a lease that expired {late_us} µs ago")


REPEATS = {("complete", "complete"), ("fail", "fail"), ("retry", "retry-last")}


@given(
    st.sampled_from(FENCED_NAMES),
    st.sampled_from(["complete", "fail", "cancel", "retry-last", "expire-last"]),
    st.booleans(),
    st.integers(0, 3600),
)
def test_every_fenced_call_on_a_finished_task_is_refused_or_answered_as_a_repeat(
    name: str, ending: str, same_token: bool, later: int
) -> None:
    task = leased(max_attempts=1)
    if ending == "complete":
        task = tr.complete(task, token=TOKEN, now=T0, result=1)  # as FENCED["complete"]
    elif ending == "fail":
        task = tr.fail(task, token=TOKEN, now=T0, error="e")
    elif ending == "cancel":
        task = tr.cancel(task, now=T0)
    elif ending == "retry-last":
        task = tr.retry(task, token=TOKEN, now=T0, error="e", delay=None, jitter_draw=0.0)
    else:
        task = tr.expire(task, now=T0 + LEASE_FOR)
    assert task.state.is_terminal
    try:
        FENCED[name](task, TOKEN if same_token else "other", T0 + timedelta(seconds=later))
    except LeaseConflict:
        return
    except ReportRepeated as repeat:
        # only the very report that finished it, answered with the task as it left it
        assert same_token
        assert (name, ending) in {
            ("complete", "complete"),
            ("fail", "fail"),
            ("retry", "retry-last"),
        }
        assert repeat.task == task
        return
    raise AssertionError(f"{name} was accepted on a {task.state} task")
