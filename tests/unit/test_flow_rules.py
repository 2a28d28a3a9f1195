"""The flow rule of leaseq.domain.limits: caps, the rate bucket and round-robin across keys."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaseq.domain import ValidationError
from leaseq.domain.limits import (
    UNKEYED,
    Candidate,
    FlowState,
    LiveLeases,
    QueueLimits,
    RateBucket,
    check_queue_limits,
    full_bucket,
    plan_flow,
    refilled,
)
from tests.support import T0


def _candidates(*keys: str, priority: int = 0) -> list[Candidate]:
    """One candidate per key given, in that ready order (a second apart)."""
    return [
        Candidate(UUID(int=n + 1), priority, T0 + timedelta(seconds=n), key)
        for n, key in enumerate(keys)
    ]


def _keys(plan_ids: tuple[UUID, ...], candidates: list[Candidate]) -> list[str]:
    by_id = {c.id: c.key for c in candidates}
    return [by_id[i] for i in plan_ids]


def test_a_queue_cap_counts_the_live_leases() -> None:
    state = FlowState(QueueLimits(concurrency=3))
    plan = plan_flow(_candidates("a", "b", "c"), LiveLeases(2), state, limit=10, now=T0)
    assert len(plan.granted) == 1


def test_a_full_queue_grants_nothing() -> None:
    state = FlowState(QueueLimits(concurrency=2))
    assert plan_flow(_candidates("a"), LiveLeases(5), state, limit=1, now=T0).granted == ()


def test_a_per_key_cap_skips_a_full_key_and_serves_the_others() -> None:
    found = _candidates("a", "a", "a", "b", "b", "b")
    live = LiveLeases(1, {"a": 1})
    state = FlowState(QueueLimits(concurrency_per_key=2))
    plan = plan_flow(found, live, state, limit=10, now=T0)
    assert sorted(_keys(plan.granted, found)) == ["a", "b", "b"]


def test_unkeyed_tasks_are_not_held_by_the_per_key_cap() -> None:
    found = _candidates(UNKEYED, UNKEYED, UNKEYED)
    state = FlowState(QueueLimits(concurrency_per_key=1))
    assert len(plan_flow(found, LiveLeases(), state, limit=3, now=T0).granted) == 3


def test_grants_go_round_robin_across_keys_of_equal_priority() -> None:
    found = _candidates("big", "big", "big", "big", "small", "small")
    plan = plan_flow(found, LiveLeases(), FlowState(QueueLimits(concurrency=100)), limit=4, now=T0)
    assert _keys(plan.granted, found) == ["big", "small", "big", "small"]


def test_a_busy_key_delays_a_quiet_one_by_one_grant_round_at_most() -> None:
    """One grant per claim: the key served longest ago goes first, so the quiet key's
    task is granted by the second claim, though the busy key's tasks are all older."""
    found = _candidates(*["busy"] * 50, "quiet")
    state = FlowState(QueueLimits(concurrency=100))
    first = plan_flow(found, LiveLeases(), state, limit=1, now=T0)
    rest = [c for c in found if c.id not in first.granted]
    second = plan_flow(rest, LiveLeases(), first.state, limit=1, now=T0)
    assert {_keys(first.granted, found)[0], _keys(second.granted, found)[0]} == {"busy", "quiet"}


def test_higher_priority_goes_before_any_key_turn() -> None:
    found = [*_candidates("a", "a"), *_candidates("b", priority=5)]
    found[2] = Candidate(UUID(int=99), 5, T0 + timedelta(seconds=9), "b")
    plan = plan_flow(found, LiveLeases(), FlowState(QueueLimits(concurrency=9)), limit=2, now=T0)
    assert plan.granted[0] == UUID(int=99)


def test_the_rate_bucket_allows_one_seconds_worth_then_refills() -> None:
    limits = QueueLimits(rate_per_second=4)
    state = FlowState(limits, full_bucket(4, T0))
    found = _candidates(*"abcdefghij")
    first = plan_flow(found, LiveLeases(), state, limit=10, now=T0)
    assert len(first.granted) == 4
    again = plan_flow(found[4:], LiveLeases(), first.state, limit=10, now=T0)
    assert again.granted == ()
    later = T0 + timedelta(milliseconds=500)
    refill = plan_flow(found[4:], LiveLeases(), again.state, limit=10, now=later)
    assert len(refill.granted) == 2


def test_a_slow_rate_still_grants_one_at_a_time() -> None:
    state = FlowState(QueueLimits(rate_per_second=0.5), full_bucket(0.5, T0))
    found = _candidates("a", "b")
    assert len(plan_flow(found, LiveLeases(), state, limit=5, now=T0).granted) == 1


@given(
    rate=st.floats(0.01, 1000),
    steps=st.lists(st.integers(0, 3_000_000), min_size=1, max_size=20),
    wanted=st.lists(st.integers(0, 50), min_size=20, max_size=20),
)
def test_grants_over_any_window_stay_within_the_rate_plus_one_burst(
    rate: float, steps: list[int], wanted: list[int]
) -> None:
    state = FlowState(QueueLimits(rate_per_second=rate), full_bucket(rate, T0))
    now, grants = T0, []
    for step, want in zip(steps, wanted, strict=False):
        now += timedelta(microseconds=step)
        found = _candidates(*["k"] * want)
        plan = plan_flow(found, LiveLeases(), state, limit=max(1, want), now=now)
        state = plan.state
        grants.extend([now] * len(plan.granted))
    for start in grants:
        window = [g for g in grants if start <= g < start + timedelta(seconds=5)]
        assert len(window) <= rate * 5 + max(1.0, rate) + 1e-9


def test_a_clock_that_went_back_refills_nothing() -> None:
    bucket = RateBucket(0.0, T0)
    assert refilled(bucket, 10, T0 - timedelta(seconds=5)) == bucket


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        (QueueLimits(concurrency=0), "concurrency"),
        (QueueLimits(concurrency=True), "concurrency"),
        (QueueLimits(concurrency_per_key=10**7), "concurrency_per_key"),
        (QueueLimits(rate_per_second=0), "rate_per_second"),
        (QueueLimits(rate_per_second=float("inf")), "rate_per_second"),
        (QueueLimits(rate_per_second=float("nan")), "rate_per_second"),
        (QueueLimits(rate_per_second=2e6), "rate_per_second"),
    ],
)
def test_limits_out_of_bounds_are_refused_naming_the_field(limits: QueueLimits, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_queue_limits(limits)
    assert refused.value.field == field
