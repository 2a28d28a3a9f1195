"""The retry policy: capped exponential backoff with an explicit jitter draw."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaseq.domain import RetryPolicy, ValidationError

MS = timedelta(milliseconds=1)


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    base = draw(st.floats(0.0, 3600.0))
    return RetryPolicy(
        base_seconds=base,
        factor=draw(st.floats(1.0, 100.0)),
        max_seconds=draw(st.floats(base, 7 * 24 * 3600.0)),
        jitter=draw(st.floats(0.0, 1.0)),
    )


attempts = st.integers(1, 1000)
draws = st.floats(0.0, 1.0, exclude_max=True)


def raw_seconds(policy: RetryPolicy, attempt: int) -> float:
    """min(cap, base * factor ** (attempt - 1)), computed in log space so it never overflows."""
    if policy.base_seconds == 0.0:
        return 0.0
    log_raw = math.log(policy.base_seconds) + (attempt - 1) * math.log(policy.factor)
    return policy.max_seconds if log_raw >= math.log(policy.max_seconds) else math.exp(log_raw)


@given(policies(), attempts, draws)
def test_backoff_lies_within_the_jitter_band_below_the_raw_delay(
    policy: RetryPolicy, attempt: int, draw: float
) -> None:
    raw = raw_seconds(policy, attempt)
    seconds = policy.delay(attempt, draw).total_seconds()
    # the floor to whole milliseconds may take up to 1 ms off the lower bound
    assert raw * (1 - policy.jitter) - 0.001 - 1e-9 * raw <= seconds <= raw * (1 + 1e-9)


@given(policies(), attempts, draws)
def test_backoff_is_never_above_the_cap(policy: RetryPolicy, attempt: int, draw: float) -> None:
    assert policy.delay(attempt, draw) <= timedelta(seconds=policy.max_seconds)


@given(policies(), attempts, draws)
def test_backoff_is_a_whole_number_of_milliseconds(
    policy: RetryPolicy, attempt: int, draw: float
) -> None:
    assert policy.delay(attempt, draw) % MS == timedelta(0)


@given(policies(), st.integers(1, 999), draws)
def test_backoff_never_shrinks_as_attempts_grow(
    policy: RetryPolicy, attempt: int, draw: float
) -> None:
    assert policy.delay(attempt, draw) <= policy.delay(attempt + 1, draw)


@given(st.floats(1.0, 100.0), attempts, draws)
def test_a_policy_with_zero_base_never_waits(factor: float, attempt: int, draw: float) -> None:
    policy = RetryPolicy(base_seconds=0.0, factor=factor, max_seconds=60.0)
    assert policy.delay(attempt, draw) == timedelta(0)


def test_backoff_doubles_from_the_base_until_the_cap() -> None:
    policy = RetryPolicy(base_seconds=1, factor=2, max_seconds=10, jitter=0)
    assert [policy.delay(n, 0.0).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_draw_moves_the_delay_within_the_band() -> None:
    policy = RetryPolicy(base_seconds=10, factor=2, max_seconds=100, jitter=0.5)
    assert policy.delay(1, 0.0) == timedelta(seconds=5)
    assert policy.delay(1, 0.5) == timedelta(seconds=7.5)


@pytest.mark.parametrize(("attempt", "draw"), [(0, 0.0), (1, 1.0), (1, -0.1)])
def test_delay_refuses_an_attempt_below_one_or_a_draw_outside_zero_to_one(
    attempt: int, draw: float
) -> None:
    with pytest.raises(ValueError):
        RetryPolicy().delay(attempt, draw)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"base_seconds": -1.0}, "retry.base_seconds"),
        ({"base_seconds": math.nan}, "retry.base_seconds"),
        ({"factor": 0.5}, "retry.factor"),
        ({"factor": math.inf}, "retry.factor"),
        ({"base_seconds": 10.0, "max_seconds": 5.0}, "retry.max_seconds"),
        ({"max_seconds": 8 * 24 * 3600.0}, "retry.max_seconds"),
        ({"jitter": 1.5}, "retry.jitter"),
        ({"jitter": math.nan}, "retry.base_seconds"),
    ],
)
def test_a_policy_out_of_range_is_refused_naming_the_field(
    fields: dict[str, float], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        RetryPolicy(**fields)
    assert refused.value.field == field


def test_a_policy_survives_a_json_round_trip() -> None:
    policy = RetryPolicy(base_seconds=2, factor=3, max_seconds=90, jitter=0.1)
    assert RetryPolicy.from_json(policy.to_json()) == policy
