"""SLA deadlines: pure arithmetic of working minutes on a calendar (24x7, or working days and hours).

A day is a working day by the first rule that applies: the city's own `working_days`, the city's own `holidays`,
the national calendar (`national: cn`: China's public holidays and the weekend days worked in lieu, 调休, from
the maintained `chinese-calendar` package), then the calendar's `weekdays`. A year the package has no data for
yet falls back to `weekdays` (logged once per year): update the package when the next year's schedule is out.

Work orders use it at dispatch (`due_at`), when reassigned or escalated (a new deadline from now), while
suspended (the clock pauses: `remaining_minutes` kept, `resume_due_at` on resuming) and when the severity rises
(`tightened_due_at`: never later than the deadline it had).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from cloud_hub.rules.models import SEVERITY_RANK, CalendarSpec, SlaRules
from cloud_hub.workorders.state_machine import CLOCK_RUNNING, Status

log = logging.getLogger(__name__)

# A calendar with working days always finds one within a couple of weeks (even around long holidays);
# the bound only stops a broken holiday list from looping forever.
_MAX_SCAN_DAYS = 3 * 366


@lru_cache(maxsize=64)
def _no_national_data(year: int) -> None:
    log.warning("chinese-calendar has no holiday data for %d: plain weekdays count there (update the package)", year)


def _national_says(day: date) -> bool | None:
    """True for a make-up working day, False for a public holiday, None for an ordinary day or an unknown year."""
    try:
        chinese_calendar.is_workday(day)  # raises for years without data
    except NotImplementedError:
        _no_national_data(day.year)
        return None
    if day in chinese_calendar.workdays:
        return True
    if day in chinese_calendar.holidays:
        return False
    return None


def is_working_day(calendar: CalendarSpec, day: date) -> bool:
    if calendar.always or day in calendar.working_days:
        return True
    if day in calendar.holidays:
        return False
    if calendar.national == "cn":
        national = _national_says(day)
        if national is not None:
            return national
    return day.isoweekday() in calendar.weekdays


def _window(calendar: CalendarSpec, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(day, calendar.start, tzinfo=zone),
        datetime.combine(day, calendar.end, tzinfo=zone),
    )


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def add_working_minutes(start: datetime, minutes: float, calendar: CalendarSpec) -> datetime:
    """The moment `minutes` of working time after `start` (aware datetime); returned in UTC.

    Time before opening, after closing, on non-working days and holidays does not count. A start outside
    working hours begins counting at the next opening.
    """
    _aware(start, "start")
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if calendar.always:
        return (start + timedelta(minutes=minutes)).astimezone(UTC)
    zone = ZoneInfo(calendar.timezone)
    local = start.astimezone(zone)
    remaining = timedelta(minutes=minutes)
    day = local.date()
    for _ in range(_MAX_SCAN_DAYS):
        if is_working_day(calendar, day):
            opens, closes = _window(calendar, day, zone)
            begin = max(local, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
        day += timedelta(days=1)
    raise ValueError(f"calendar has no working time within {_MAX_SCAN_DAYS} days of {start.isoformat()}")


def working_minutes_between(start: datetime, end: datetime, calendar: CalendarSpec) -> float:
    """Working minutes from `start` to `end` (0 when `end` is not after `start`)."""
    _aware(start, "start")
    _aware(end, "end")
    if end <= start:
        return 0.0
    if calendar.always:
        return (end - start).total_seconds() / 60
    zone = ZoneInfo(calendar.timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    total = timedelta()
    day = local_start.date()
    while day <= local_end.date():
        if is_working_day(calendar, day):
            opens, closes = _window(calendar, day, zone)
            begin, finish = max(local_start, opens), min(local_end, closes)
            if begin < finish:
                total += finish - begin
        day += timedelta(days=1)
    return total.total_seconds() / 60


def due_at(rules: SlaRules, kind: str, severity: str, start: datetime) -> datetime:
    """Deadline of a work order of this kind and severity dispatched (or reassigned, escalated) at `start`."""
    return add_working_minutes(start, rules.minutes(kind, severity), rules.calendar(severity))


def remaining_minutes(rules: SlaRules, severity: str, due: datetime, now: datetime) -> float:
    """Working minutes left until `due` (0 when it has passed): what a suspended order keeps for later."""
    return working_minutes_between(now, due, rules.calendar(severity))


def resume_due_at(rules: SlaRules, severity: str, remaining: float, now: datetime) -> datetime:
    """The deadline of an order resumed at `now` with `remaining` working minutes left on its clock."""
    return add_working_minutes(now, max(remaining, 0.0), rules.calendar(severity))


def tightened_due_at(rules: SlaRules, kind: str, severity: str, now: datetime, current: datetime) -> datetime:
    """After the severity rose at `now`: the new severity's deadline from now, but never later than `current`."""
    return min(current, due_at(rules, kind, severity, now))


# (order id, kind, severity before, severity after, status, due_at, sla_remaining_min)
SeverityChange = tuple[int, str, str, str, str, datetime | None, float | None]


def tightened_deadlines(
    changes: Iterable[SeverityChange], rules: SlaRules, now: datetime | None = None
) -> list[tuple[int, datetime | None, float | None]]:
    """(order id, due_at, sla_remaining_min) of the orders whose severity rose and whose deadline still matters:
    a running clock gets `tightened_due_at`, a paused one (suspended) at most the new severity's minutes."""
    now = now or datetime.now(UTC)
    out: list[tuple[int, datetime | None, float | None]] = []
    for order_id, kind, before, after, status, due, left in changes:
        if SEVERITY_RANK.get(after, 9) >= SEVERITY_RANK.get(before, 9):
            continue  # milder or unknown: the deadline stays
        if status in CLOCK_RUNNING and due is not None:
            out.append((order_id, tightened_due_at(rules, kind, after, now, due), left))
        elif status == Status.SUSPENDED and left is not None:
            out.append((order_id, None, min(left, float(rules.minutes(kind, after)))))
    return out
