"""The SLA calendar: China's public holidays and make-up working days (chinese-calendar), the city's overrides,
and the arithmetic as properties (hypothesis): monotonic, additive, and the inverse of counting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cloud_hub.rules.loader import load_hub_rules
from cloud_hub.rules.models import CalendarSpec
from cloud_hub.workorders.sla import add_working_minutes, is_working_day, working_minutes_between

SH = ZoneInfo("Asia/Shanghai")
OFFICE = CalendarSpec()
NATIONAL = CalendarSpec(national="cn")
REPO = Path(__file__).resolve().parents[3]


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)


def test_a_make_up_working_day_counts_and_a_public_holiday_does_not() -> None:
    # Spring Festival 2026: Saturday 14 February is worked in lieu, 15-23 February are off.
    assert is_working_day(NATIONAL, date(2026, 2, 14)) and not is_working_day(OFFICE, date(2026, 2, 14))
    assert not is_working_day(NATIONAL, date(2026, 2, 16))
    assert add_working_minutes(sh(2026, 2, 13, 17, 0), 60, NATIONAL) == sh(2026, 2, 14, 9, 0)
    assert add_working_minutes(sh(2026, 2, 14, 17, 0), 60, NATIONAL) == sh(2026, 2, 24, 9, 0)
    # National Day 2026: 1-7 October off, back on Thursday the 8th.
    assert add_working_minutes(sh(2026, 9, 30, 17, 0), 60, NATIONAL) == sh(2026, 10, 8, 9, 0)
    assert add_working_minutes(sh(2026, 9, 30, 17, 0), 60, OFFICE) == sh(2026, 10, 1, 9, 0)  # without: a Thursday


def test_the_citys_own_days_override_the_national_calendar() -> None:
    city = CalendarSpec(national="cn", working_days=[date(2026, 10, 3)], holidays=[date(2026, 2, 14)])
    assert is_working_day(city, date(2026, 10, 3))  # a Saturday in the National Day holiday, worked here
    assert not is_working_day(city, date(2026, 2, 14))  # the national make-up day, given off here
    assert add_working_minutes(sh(2026, 9, 30, 17, 0), 60, city) == sh(2026, 10, 3, 9, 0)


def test_a_year_without_national_data_falls_back_to_weekdays() -> None:
    assert is_working_day(NATIONAL, date(2031, 1, 1))  # a Wednesday; the package knows nothing of 2031 yet
    assert not is_working_day(NATIONAL, date(2031, 1, 4))  # Saturday


def test_a_day_in_both_lists_is_refused() -> None:
    with pytest.raises(ValidationError, match="both in holidays and working_days"):
        CalendarSpec(holidays=[date(2026, 5, 1)], working_days=[date(2026, 5, 1)])


def test_the_citys_rule_file_uses_the_national_calendar() -> None:
    office = load_hub_rules(REPO / "rules" / "hub").sla.calendars["office"]
    assert office.national == "cn"
    assert is_working_day(office, date(2026, 2, 14))


def test_working_minutes_between_counts_only_open_hours() -> None:
    assert working_minutes_between(sh(2026, 2, 13, 17, 0), sh(2026, 2, 14, 9, 0), NATIONAL) == 60
    assert working_minutes_between(sh(2026, 11, 23, 9, 0), sh(2026, 11, 23, 8, 0), OFFICE) == 0
    assert working_minutes_between(sh(2026, 11, 21, 9, 0), sh(2026, 11, 22, 9, 0), OFFICE) == 0  # a weekend


# --- properties -------------------------------------------------------------------------------------------------

calendars = st.sampled_from(
    [
        CalendarSpec(always=True),
        OFFICE,
        NATIONAL,
        CalendarSpec(national="cn", weekdays=[1, 2, 3, 4, 5, 6], hours=("07:00", "22:00")),
        CalendarSpec(national="cn", working_days=[date(2026, 10, 3)], holidays=[date(2026, 5, 6)]),
        CalendarSpec(timezone="Europe/Berlin", hours=("09:00", "17:00")),  # with daylight saving time
    ]
)
starts = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
minutes = st.integers(min_value=0, max_value=20_000)


@given(calendars, starts, minutes, minutes)
def test_adding_more_minutes_never_ends_earlier(calendar: CalendarSpec, start: datetime, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert add_working_minutes(start, low, calendar) <= add_working_minutes(start, high, calendar)


@given(calendars, starts, st.integers(1, 20_000), st.integers(1, 20_000))
def test_adding_a_then_b_is_adding_a_plus_b(calendar: CalendarSpec, start: datetime, a: int, b: int) -> None:
    assert add_working_minutes(add_working_minutes(start, a, calendar), b, calendar) == add_working_minutes(
        start, a + b, calendar
    )


@given(calendars, starts, minutes)
def test_counting_the_minutes_added_gives_them_back(calendar: CalendarSpec, start: datetime, m: int) -> None:
    end = add_working_minutes(start, m, calendar)
    assert end >= start
    assert working_minutes_between(start, end, calendar) == pytest.approx(m, abs=1e-6)


@given(calendars, starts, st.integers(0, 30 * 24 * 60))
def test_the_deadline_moves_with_later_starts(calendar: CalendarSpec, start: datetime, later_by: int) -> None:
    later = start + timedelta(minutes=later_by)
    assert add_working_minutes(start, 120, calendar) <= add_working_minutes(later, 120, calendar)
