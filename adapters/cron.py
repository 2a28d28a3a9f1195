"""The cron calendar on cronsim (Debian cron's rules, DST quirks included) and zoneinfo.

See ADR 0029 for the choice of cronsim and for what a DST transition does to a schedule.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, tzinfo

from cronsim import CronSim, CronSimError

from leaseq.domain import ValidationError

MAX_CRON_CHARS = 200
FIELDS = "minute hour day-of-month month day-of-week, or 6 with a leading second"


class CronsimCalendar:
    """`CronCalendar` on cronsim: 5 fields (minute, hour, day of month, month, day of
    week), or 6 with a leading seconds field; a rule is read in its time zone's local
    time. Debian's cron rules for DST: a fixed-time job in a skipped hour runs right
    after the jump, one in a repeated hour runs once; a wildcard-hour job runs in each."""

    def check(self, cron: str, timezone: str) -> None:
        zone = _zone(timezone)
        if not isinstance(cron, str) or not 0 < len(cron) <= MAX_CRON_CHARS:
            raise ValidationError("cron", f"must be 1-{MAX_CRON_CHARS} characters")
        if len(cron.split()) not in (5, 6):
            raise ValidationError("cron", f"must have 5 fields ({FIELDS})")
        try:
            next(CronSim(cron, datetime.now(zone)))
        except CronSimError as error:
            raise ValidationError("cron", f"{error} in {cron!r}") from None
        except StopIteration:
            raise ValidationError("cron", f"{cron!r} never fires") from None

    def next_after(self, cron: str, timezone: str, instant: datetime) -> datetime:
        local = instant.astimezone(_zone(timezone))
        try:
            fire = next(CronSim(cron, local))
        except StopIteration:  # checked when stored: a rule that fires no more
            raise ValidationError("cron", f"{cron!r} fires no more") from None
        return fire.astimezone(UTC)


def _zone(name: str) -> tzinfo:
    if not isinstance(name, str) or not name:
        raise ValidationError("timezone", "must be an IANA time zone name, e.g. Europe/Berlin")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            "timezone", f"unknown time zone {name!r} (an IANA name, e.g. Europe/Berlin)"
        ) from None
