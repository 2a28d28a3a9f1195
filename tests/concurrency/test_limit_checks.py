"""The flow-control checks catch planted violations and pass what keeps the limits."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.concurrency.history import Event, History
from tests.concurrency.limit_checks import check_fair_share, check_limits, check_rate

T0 = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
LEASE = timedelta(seconds=10)


def grant(task: str, token: str, sent: float, answered: float) -> Event:
    return Event("grant", task, "w", True, token, 1, sent=sent, answered=answered)


def done(task: str, token: str, sent: float) -> Event:
    return Event("complete", task, "w", True, token, 1, sent=sent, answered=sent + 0.01)


KEYS = {"t1": "a", "t2": "a", "t3": "b"}


def test_overlapping_leases_over_the_cap_are_reported() -> None:
    history = History([grant("t1", "x", 0, 1), grant("t2", "y", 2, 3), done("t1", "x", 5)])
    found = check_limits(history, keys=KEYS, concurrency=1, per_key=None, lease_for=LEASE)
    assert found == ["2 leases live at once, over the cap of 1"]
    per_key = check_limits(history, keys=KEYS, concurrency=None, per_key=1, lease_for=LEASE)
    assert per_key == ["key a: 2 leases live at once, over 1"]


def test_leases_one_after_the_other_keep_the_cap() -> None:
    history = History([grant("t1", "x", 0, 1), done("t1", "x", 2), grant("t2", "y", 2, 3)])
    assert check_limits(history, keys=KEYS, concurrency=1, per_key=1, lease_for=LEASE) == []


def test_an_unended_lease_counts_until_its_certain_expiry_only() -> None:
    history = History([grant("t1", "x", 0, 1), grant("t2", "y", 10.5, 11)])
    assert check_limits(history, keys=KEYS, concurrency=1, per_key=None, lease_for=LEASE) == []
    history = History([grant("t1", "x", 0, 1), grant("t2", "y", 9, 9.5)])
    assert check_limits(history, keys=KEYS, concurrency=1, per_key=None, lease_for=LEASE) != []


def test_grants_past_the_rate_are_reported() -> None:
    steady = [T0 + timedelta(seconds=n / 10) for n in range(100)]  # 10 a second for 10 s
    assert check_rate(steady, 10) == []
    burst = steady + [T0 + timedelta(seconds=4.5)] * 20
    assert check_rate(burst, 10) != []


def test_a_key_held_back_behind_another_keys_backlog_is_reported() -> None:
    fair = ["busy", "quiet", "busy", "busy"]
    assert check_fair_share(fair, {"busy", "quiet"}, slack=0) == []
    starved = ["busy"] * 10 + ["quiet"]
    assert check_fair_share(starved, {"busy", "quiet"}, slack=2) != []
