"""SLA deadline arithmetic on working-hours and 24x7 calendars."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cloud_hub.rules.models import CalendarSpec, SlaRules
from cloud_hub.workorders.sla import add_working_minutes, due_at

SH = ZoneInfo("Asia/Shanghai")
OFFICE = CalendarSpec(timezone="Asia/Shanghai", weekdays=[1, 2, 3, 4, 5], hours=("08:30", "17:30"))
ALWAYS = CalendarSpec(always=True)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        (sh(2026, 11, 23, 10, 0), 60, sh(2026, 11, 23, 11, 0)),  # Monday, inside hours
        (sh(2026, 11, 23, 17, 0), 60, sh(2026, 11, 24, 9, 0)),  # 30 min today, 30 tomorrow
        (sh(2026, 11, 23, 7, 0), 30, sh(2026, 11, 23, 9, 0)),  # before opening: counts from 08:30
        (sh(2026, 11, 23, 20, 0), 30, sh(2026, 11, 24, 9, 0)),  # after closing: next morning
        (sh(2026, 11, 27, 17, 0), 60, sh(2026, 11, 30, 9, 0)),  # Friday evening -> Monday
        (sh(2026, 11, 28, 12, 0), 15, sh(2026, 11, 30, 8, 45)),  # Saturday -> Monday
        (sh(2026, 11, 23, 17, 30), 1, sh(2026, 11, 24, 8, 31)),  # exactly at closing
        (sh(2026, 11, 23, 9, 0), 540 * 2, sh(2026, 11, 25, 9, 0)),  # two full working days
        (sh(2026, 11, 23, 9, 0), 0, sh(2026, 11, 23, 9, 0)),
    ],
)
def test_working_hours(start: datetime, minutes: int, expected: datetime) -> None:
    result = add_working_minutes(start, minutes, OFFICE)
    assert result == expected
    assert result.tzinfo is UTC


def test_input_in_utc_is_read_in_the_calendar_time_zone() -> None:
    # 2026-11-23 01:00Z is 09:00 in Shanghai (Monday).
    assert add_working_minutes(datetime(2026, 11, 23, 1, 0, tzinfo=UTC), 30, OFFICE) == sh(2026, 11, 23, 9, 30)


def test_holidays_are_skipped() -> None:
    calendar = CalendarSpec(holidays=[date(2026, 11, 24)])
    assert add_working_minutes(sh(2026, 11, 23, 17, 0), 60, calendar) == sh(2026, 11, 25, 9, 0)


def test_24x7_counts_every_minute() -> None:
    start = sh(2026, 11, 28, 23, 50)  # Saturday night
    assert add_working_minutes(start, 30, ALWAYS) == start + timedelta(minutes=30)


def test_naive_start_and_negative_minutes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_minutes(datetime(2026, 11, 23, 9, 0), 10, OFFICE)
    with pytest.raises(ValueError, match="negative"):
        add_working_minutes(sh(2026, 11, 23, 9, 0), -1, OFFICE)


def test_due_at_uses_kind_minutes_and_severity_calendar() -> None:
    rules = SlaRules.model_validate(
        {
            "default": {"red": 30, "orange": 120, "yellow": 240, "blue": 480},
            "kinds": {"illegal_parking": {"red": 15, "orange": 30, "yellow": 60, "blue": 120}},
        }
    )
    saturday = sh(2026, 11, 28, 12, 0)
    assert due_at(rules, "illegal_parking", "red", saturday) == sh(2026, 11, 28, 12, 15)  # red runs 24x7
    assert due_at(rules, "illegal_parking", "yellow", saturday) == sh(2026, 11, 30, 9, 30)
    assert due_at(rules, "waterlogging", "orange", sh(2026, 11, 23, 9, 0)) == sh(2026, 11, 23, 11, 0)
