"""SLA deadlines: pure arithmetic of working minutes on a calendar (24x7, or weekdays and hours minus holidays)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from cloud_hub.rules.models import CalendarSpec, SlaRules

# A calendar with working days always finds one within a couple of weeks (even around long holidays);
# the bound only stops a broken holiday list from looping forever.
_MAX_SCAN_DAYS = 3 * 366


def _is_working_day(calendar: CalendarSpec, day: date) -> bool:
    return day.isoweekday() in calendar.weekdays and day not in calendar.holidays


def _window(calendar: CalendarSpec, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(day, calendar.start, tzinfo=zone),
        datetime.combine(day, calendar.end, tzinfo=zone),
    )


def add_working_minutes(start: datetime, minutes: float, calendar: CalendarSpec) -> datetime:
    """The moment `minutes` of working time after `start` (aware datetime); returned in UTC.

    Time before opening, after closing, on non-working days and holidays does not count. A start outside
    working hours begins counting at the next opening.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if calendar.always:
        return (start + timedelta(minutes=minutes)).astimezone(UTC)
    zone = ZoneInfo(calendar.timezone)
    local = start.astimezone(zone)
    remaining = timedelta(minutes=minutes)
    day = local.date()
    for _ in range(_MAX_SCAN_DAYS):
        if _is_working_day(calendar, day):
            opens, closes = _window(calendar, day, zone)
            begin = max(local, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
        day += timedelta(days=1)
    raise ValueError(f"calendar has no working time within {_MAX_SCAN_DAYS} days of {start.isoformat()}")


def due_at(rules: SlaRules, kind: str, severity: str, start: datetime) -> datetime:
    """Deadline of a work order of this kind and severity dispatched at `start`."""
    return add_working_minutes(start, rules.minutes(kind, severity), rules.calendar(severity))
