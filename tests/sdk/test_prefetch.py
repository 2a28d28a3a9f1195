"""The automatic prefetch's rule: `concurrency` tasks while handlers are short, else none."""

from __future__ import annotations

import pytest

from leaseq.sdk.prefetch import HandlerPace

LEASE = 30.0


def paced(*runs: float) -> HandlerPace:
    pace = HandlerPace()
    for seconds in runs:
        pace.ran(seconds)
    return pace


def test_no_prefetch_before_a_handler_has_returned() -> None:
    assert HandlerPace().prefetch(10, LEASE) == 0


@pytest.mark.parametrize(("seconds", "prefetch"), [(0.0, 10), (0.05, 10), (0.051, 0), (2.0, 0)])
def test_handlers_up_to_50_ms_are_short(seconds: float, prefetch: int) -> None:
    assert paced(seconds).prefetch(10, LEASE) == prefetch


def test_the_prefetch_is_the_concurrency() -> None:
    assert [paced(0.001).prefetch(c, LEASE) for c in (1, 7, 500)] == [1, 7, 500]


@pytest.mark.parametrize(("lease", "prefetch"), [(1.0, 10), (0.5, 0)])
def test_short_is_also_at_most_a_twentieth_of_the_lease(lease: float, prefetch: int) -> None:
    # 30 ms is short against a 1 s lease (50 ms), not against a 0.5 s one (25 ms).
    assert paced(0.03).prefetch(10, lease) == prefetch


def test_one_slow_run_turns_it_off_at_once() -> None:
    assert paced(*[0.001] * 100, 0.2).prefetch(10, LEASE) == 0


def test_short_runs_after_a_slow_one_turn_it_back_on_gradually() -> None:
    pace = paced(1.0, *[0.001] * 10)
    assert pace.prefetch(10, LEASE) == 0  # ten short runs are not enough after a 1 s one
    for _ in range(90):
        pace.ran(0.001)
    assert pace.prefetch(10, LEASE) == 10


def test_a_shorter_run_lowers_the_estimate_only_part_of_the_way() -> None:
    estimates = []
    pace = paced(0.1)
    for _ in range(3):
        pace.ran(0.0)
        estimates.append(pace.estimate)
    assert estimates == pytest.approx([0.09, 0.081, 0.0729])
