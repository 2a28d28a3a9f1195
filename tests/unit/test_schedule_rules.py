"""The pure schedule rules: when a schedule fires, which fire time it enqueues, and how."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leaseq.domain import Schedule, ScheduleSpec, ValidationError
from leaseq.domain.schedule import (
    SCHEDULE_LABEL,
    check_schedule,
    fire_spec,
    plan_firing,
    schedule_key,
)
from tests.support import spec

T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class EveryMinute:
    """A NextAfter for "* * * * *" that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, instant: datetime) -> datetime:
        self.calls += 1
        floor = instant.replace(second=0, microsecond=0)
        return floor + timedelta(minutes=1)


def schedule(next_fire_at: datetime) -> Schedule:
    return Schedule("s", "* * * * *", "UTC", spec(), next_fire_at, 1, None, None, T, T)


def test_a_schedule_whose_fire_time_lies_ahead_does_nothing() -> None:
    assert plan_firing(schedule(T + timedelta(seconds=1)), T, EveryMinute()) is None


def test_a_due_schedule_fires_its_fire_time_and_waits_for_the_next() -> None:
    firing = plan_firing(schedule(T), T + timedelta(seconds=5), EveryMinute())
    assert firing is not None
    assert (firing.fire_at, firing.following) == (T, T + timedelta(minutes=1))


def test_after_missed_fire_times_only_the_latest_is_enqueued() -> None:
    now = T + timedelta(minutes=7, seconds=30)
    firing = plan_firing(schedule(T), now, EveryMinute())
    assert firing is not None
    assert (firing.fire_at, firing.following) == (
        T + timedelta(minutes=7),
        T + timedelta(minutes=8),
    )


def test_a_year_of_missed_fire_times_is_skipped_in_few_steps() -> None:
    rule = EveryMinute()
    now = T + timedelta(days=365, seconds=30)
    firing = plan_firing(schedule(T), now, rule)
    assert firing is not None and firing.fire_at == T + timedelta(days=365)
    assert rule.calls < 100


def test_a_fire_times_task_is_the_template_due_then_keyed_by_schedule_and_time() -> None:
    task = fire_spec(schedule(T), T)
    assert (task.run_at, task.idempotency_key) == (T, "schedule:s:2030-01-01T12:00:00+00:00")
    assert task.labels == {SCHEDULE_LABEL: "s"}
    local = T.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert schedule_key("s", local) == schedule_key("s", T)  # one key per instant


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (ScheduleSpec("bad name", "* * * * *", "UTC", spec()), "name"),
        (ScheduleSpec("s", "* * * * *", "UTC", spec(run_at=T)), "task.run_at"),
        (ScheduleSpec("s", "* * * * *", "UTC", spec(idempotency_key="k")), "task.idempotency_key"),
        (ScheduleSpec("s", "* * * * *", "UTC", spec(priority=5000)), "task.priority"),
        (ScheduleSpec("s", "* * * * *", "UTC", spec(labels={"x": "y" * 2000})), "task.labels.x"),
    ],
)
def test_check_schedule_names_the_bad_field(given: ScheduleSpec, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_schedule(given)
    assert refused.value.field == field
