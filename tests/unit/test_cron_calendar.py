"""The cron calendar (cronsim and zoneinfo): fire times in a time zone's wall-clock time,
across DST transitions as Debian's cron has them (Europe/Berlin: spring forward on
2026-03-29 at 02:00 → 03:00, fall back on 2026-10-25 at 03:00 → 02:00)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from leaseq.adapters.cron import CronsimCalendar
from leaseq.domain import ValidationError

BERLIN = ZoneInfo("Europe/Berlin")
CAL = CronsimCalendar()


def fires(cron: str, start: datetime, count: int, zone: str = "Europe/Berlin") -> list[str]:
    found, at = [], start
    for _ in range(count):
        at = CAL.next_after(cron, zone, at)
        assert at.tzinfo is not None and at.utcoffset() is not None
        found.append(at.astimezone(BERLIN).isoformat())
    return found


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_a_fire_time_in_the_skipped_hour_fires_right_after_the_jump() -> None:
    assert fires("30 2 * * *", berlin(2026, 3, 28, 12), 3) == [
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_a_fire_time_in_the_repeated_hour_fires_once() -> None:
    assert fires("30 2 * * *", berlin(2026, 10, 24, 12), 3) == [
        "2026-10-25T02:30:00+02:00",  # the first 02:30 (summer time) only
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_a_wildcard_hour_rule_fires_in_both_repeated_hours_and_skips_the_missing_one() -> None:
    assert fires("30 * * * *", berlin(2026, 10, 25, 1, 45), 3) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]
    assert fires("30 * * * *", berlin(2026, 3, 29, 1, 45), 2) == [
        "2026-03-29T03:30:00+02:00",
        "2026-03-29T04:30:00+02:00",
    ]


def test_an_interval_rule_keeps_its_pace_in_real_time_across_the_jump() -> None:
    found = fires("*/30 * * * *", berlin(2026, 3, 29, 1, 15), 3)
    assert found == [
        "2026-03-29T01:30:00+02:00".replace("+02:00", "+01:00"),
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_fire_times_are_strictly_after_the_instant_and_in_utc() -> None:
    at = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert CAL.next_after("*/5 * * * *", "UTC", at) == datetime(2030, 1, 1, 12, 5, tzinfo=UTC)
    assert CAL.next_after("* * * * * *", "UTC", at) == datetime(2030, 1, 1, 12, 0, 1, tzinfo=UTC)
    assert CAL.next_after("0 9 * * *", "Asia/Tokyo", at) == datetime(2030, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "timezone", "field"),
    [
        ("61 * * * *", "UTC", "cron"),
        ("* * *", "UTC", "cron"),
        ("* * * * * * *", "UTC", "cron"),
        ("", "UTC", "cron"),
        ("0 0 30 2 *", "UTC", "cron"),
        ("x" * 201, "UTC", "cron"),
        ("* * * * *", "Mars/Olympus_Mons", "timezone"),
        ("* * * * *", "../../etc/passwd", "timezone"),
        ("* * * * *", "", "timezone"),
    ],
)
def test_a_bad_rule_or_zone_is_refused_naming_the_field(cron: str, timezone: str, field: str):
    with pytest.raises(ValidationError) as refused:
        CAL.check(cron, timezone)
    assert refused.value.field == field


def test_a_good_rule_passes_the_check() -> None:
    CAL.check("*/5 * * * *", "Europe/Berlin")
    CAL.check("0 3 * * MON-FRI", "America/New_York")
