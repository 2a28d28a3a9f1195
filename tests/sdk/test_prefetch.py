"""The automatic prefetch's rule: none unless handlers are short; then as many tasks as the
slots start within the short time, at least `concurrency`, up to a ceiling (ADR 0039)."""

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


@pytest.mark.parametrize(("seconds", "prefetch"), [(0.0, 40), (0.05, 10), (0.051, 0), (2.0, 0)])
def test_handlers_up_to_50_ms_are_short(seconds: float, prefetch: int) -> None:
    assert paced(seconds).prefetch(10, LEASE) == prefetch


@pytest.mark.parametrize(
    ("seconds", "prefetch"), [(0.05, 10), (0.04, 12), (0.025, 20), (0.02, 25), (0.01, 40)]
)
def test_as_many_wait_as_the_slots_start_within_50_ms(seconds: float, prefetch: int) -> None:
    # Ten slots run 50 ms / seconds handlers each in 50 ms; at most 4 per slot (40).
    assert paced(seconds).prefetch(10, LEASE) == prefetch


@pytest.mark.parametrize(
    ("concurrency", "prefetch"),
    [(1, 4), (7, 28), (25, 100), (26, 100), (50, 100), (100, 100), (500, 500)],
)
def test_the_most_is_4_per_slot_and_100_in_all_but_never_under_the_concurrency(
    concurrency: int, prefetch: int
) -> None:
    assert paced(0.0001).prefetch(concurrency, LEASE) == prefetch


@pytest.mark.parametrize(("lease", "prefetch"), [(1.0, 16), (0.5, 0)])
def test_short_is_also_at_most_a_twentieth_of_the_lease(lease: float, prefetch: int) -> None:
    # 30 ms is short against a 1 s lease (50 ms: 10 slots start 16 more in it), not
    # against a 0.5 s one (25 ms).
    assert paced(0.03).prefetch(10, lease) == prefetch


def test_one_slow_run_turns_it_off_at_once() -> None:
    assert paced(*[0.001] * 100, 0.2).prefetch(10, LEASE) == 0


def test_short_runs_after_a_slow_one_turn_it_back_on_gradually() -> None:
    pace = paced(1.0, *[0.001] * 10)
    assert pace.prefetch(10, LEASE) == 0  # ten short runs are not enough after a 1 s one
    for _ in range(19):
        pace.ran(0.001)
    assert pace.prefetch(10, LEASE) == 10  # 29 runs: 1 ms + 999 ms * 0.9**29 = 48 ms
    for _ in range(71):
        pace.ran(0.001)
    assert pace.prefetch(10, LEASE) == 40


def test_a_shorter_run_lowers_the_estimate_only_part_of_the_way() -> None:
    estimates = []
    pace = paced(0.1)
    for _ in range(3):
        pace.ran(0.0)
        estimates.append(pace.estimate)
    assert estimates == pytest.approx([0.09, 0.081, 0.0729])
