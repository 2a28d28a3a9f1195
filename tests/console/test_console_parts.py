"""The console's pure parts: session values, CSRF tokens, throughput samples, wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leaseq.adapters.http.console import presentation, session
from leaseq.adapters.http.console.throughput import ThroughputSampler, sparkline_points
from leaseq.app.access import load_access_tokens
from leaseq.domain import TaskState
from leaseq.ports import QueueStats

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
ACCESS = load_access_tokens("a-secret:admin;w-secret:work", None)


def stats(queue: str, succeeded: int, dead: int = 0) -> QueueStats:
    counts = {TaskState.SUCCEEDED: succeeded, TaskState.DEAD: dead}
    return QueueStats(queue, counts, ready=0, scheduled=0, oldest_ready_age=None)


def test_a_session_issued_for_an_admin_token_verifies_until_it_expires():
    value = session.issue(b"a-secret", NOW)
    assert "a-secret" not in value
    assert session.verify(value, ACCESS, NOW + timedelta(hours=11)) is not None
    assert session.verify(value, ACCESS, NOW + session.LIFETIME) is None


def test_a_session_signed_with_a_token_lacking_admin_does_not_verify():
    assert session.verify(session.issue(b"w-secret", NOW), ACCESS, NOW) is None


def test_malformed_session_values_do_not_verify():
    for value in ("", "x", "1.2", "a.b.c", "99999999999.n.sig", "1.2.3.4"):
        assert session.verify(value, ACCESS, NOW) is None


def test_each_session_has_its_own_csrf_token_and_only_it_matches():
    one = session.verify(session.issue(b"a-secret", NOW), ACCESS, NOW)
    two = session.verify(session.issue(b"a-secret", NOW), ACCESS, NOW)
    assert one is not None and two is not None and one.csrf != two.csrf
    assert session.csrf_matches(one, one.csrf)
    assert not session.csrf_matches(one, two.csrf) and not session.csrf_matches(one, None)


def test_throughput_is_finished_tasks_per_second_between_samples():
    sampler = ThroughputSampler(interval=5)
    sampler.record([stats("q", 10)], NOW)
    sampler.record([stats("q", 11)], NOW + timedelta(seconds=1))  # too soon: not kept
    sampler.record([stats("q", 20, dead=5)], NOW + timedelta(seconds=5))
    sampler.record([stats("q", 3)], NOW + timedelta(seconds=10))  # pruned: not negative
    assert sampler.rates("q") == [3.0, 0.0]
    assert sampler.rates("other") == [0.0, 0.0]


def test_the_sparkline_spans_the_box_and_rests_at_the_bottom_when_idle():
    assert sparkline_points([]) == ""
    assert sparkline_points([0.0, 0.0]) == "0.0,23.0 120.0,23.0"
    assert sparkline_points([0.0, 2.0, 1.0]) == "0.0,23.0 60.0,1.0 120.0,12.0"


def test_ages_read_as_seconds_minutes_hours_and_days():
    assert presentation.age(None) == "—"
    assert presentation.age(timedelta(seconds=4.25)) == "4.2s"
    assert presentation.age(timedelta(seconds=185)) == "3m 05s"
    assert presentation.age(timedelta(hours=1, minutes=2)) == "1h 02m"
    assert presentation.age(timedelta(days=3, hours=4)) == "3d 4h"
    assert presentation.age(timedelta(seconds=-1)) == "expired"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        ("Traceback (most recent call last):\n  File x\nValueError: bad\n\n", "ValueError: bad"),
        ("SMTP 550: mailbox unavailable\nsecond line", "SMTP 550: mailbox unavailable"),
        ("  \n", ""),
        (None, ""),
    ],
)
def test_an_error_is_shown_by_its_exception_line(error: str | None, line: str) -> None:
    assert presentation.error_line(error) == line
