"""Weekly time windows in a local time zone: when a rule applies (no parking 07:00-19:00 on working days,
kitchen business hours).

Pure: callers pass the instant to judge. A window `{days: [mon..fri], start: "07:00", end: "19:00"}` opens on
each listed day at `start` (local wall time) and closes at `end`; an `end` before the `start` runs past midnight
(the part after midnight belongs to the previous day's opening) and an `end` equal to the `start` is a whole
24 hours. A holiday date cancels the openings of that local date (an overnight window opened the evening before
still runs out). Adjacent or overlapping windows form one continuous open period, so `opened_at` reports when the
period really began (a grace period after 12:00 must not restart when 07:00-12:00 and 12:00-19:00 meet).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Walking back through touching windows stops after this many steps: an always-open week has no opening.
_MAX_CHAIN = 32


def check_timezone(name: str) -> str:
    """`name` if it is an IANA zone this machine knows, else a ValueError that says what to use."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai") from None
    return name


class WeeklyWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Day] = Field(list(DAYS), min_length=1)
    start: time = time(6, 0)
    end: time = Field(time(22, 0), description="before the start: runs past midnight; equal: a whole 24 hours")

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("give a local wall time without offset; the time zone is set once for all windows")
        return value

    def opening_day(self, local: datetime) -> date | None:
        """The local date of the opening that covers the wall time `local`, or None when the window is shut."""
        now, today = local.time(), local.date()
        if self.start < self.end:
            return today if DAYS[today.weekday()] in self.days and self.start <= now < self.end else None
        # Runs past midnight (or a whole day): after the start it is today's opening, before the end yesterday's.
        if now >= self.start and DAYS[today.weekday()] in self.days:
            return today
        yesterday = today - timedelta(days=1)
        if now < self.end and DAYS[yesterday.weekday()] in self.days:
            return yesterday
        return None

    def contains(self, local: datetime) -> bool:
        """Is the wall time `local` (naive or in the schedule's zone) inside this window?"""
        return self.opening_day(local) is not None


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(description="IANA zone the windows are written in, e.g. Asia/Shanghai")
    windows: list[WeeklyWindow] = Field(min_length=1)
    holidays: list[date] = Field([], description="local dates on which no window opens")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return check_timezone(name)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def active(self, at: datetime) -> bool:
        """Is some window open at the instant `at` (timezone-aware)?"""
        return bool(self._openings(at))

    def opened_at(self, at: datetime) -> datetime | None:
        """When the open period containing `at` began (UTC), or None when shut at `at`.

        Follows touching or overlapping windows back to the first opening; a schedule open round the clock for
        longer than the walk reaches reports the earliest opening it found, which is long enough ago for any grace.
        """
        openings = self._openings(at)
        if not openings:
            return None
        began = min(openings)
        for _ in range(_MAX_CHAIN):
            before = self._openings(began - timedelta(microseconds=1))
            if not before or min(before) >= began:
                break
            began = min(before)
        return began

    def _openings(self, at: datetime) -> list[datetime]:
        """UTC opening instants of the windows that cover `at`."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"schedule needs a timezone-aware instant, got naive {at.isoformat()}")
        tz = self.tz
        local = at.astimezone(tz)
        openings = []
        for window in self.windows:
            day = window.opening_day(local)
            if day is not None and day not in self.holidays:
                openings.append(datetime.combine(day, window.start, tzinfo=tz).astimezone(UTC))
        return openings


class TimeWindowedRule(BaseModel):
    """Rule fields of a dwell analytic that applies only in time windows (parking, road occupation).

    Flat in the rule (`windows`, `timezone`, `holidays`, `grace_s`) like the kitchen's business hours. No
    `windows` = the rule applies at all times.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: list[WeeklyWindow] | None = Field(
        None, min_length=1, description='when the rule applies, e.g. [{days: [mon, fri], start: "07:00", end: "19:00"}]'
    )
    timezone: str | None = Field(None, description="IANA zone of the windows; required with windows")
    holidays: list[date] = Field([], description="local dates on which the windows do not open")
    grace_s: float = Field(0.0, ge=0, description="seconds after a window opens before any stay counts")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        return None if name is None else check_timezone(name)

    @model_validator(mode="after")
    def _windows_complete(self) -> TimeWindowedRule:
        if self.windows is None:
            # By value, not by presence: a dumped rule (remote config round trip) spells out the empty defaults.
            given = {"timezone": self.timezone is not None, "holidays": bool(self.holidays), "grace_s": self.grace_s}
            stray = [name for name, value in given.items() if value]
            if stray:
                raise ValueError(f"{', '.join(stray)} only apply with windows; add windows or remove them")
        elif self.timezone is None:
            raise ValueError("windows need a timezone (IANA name such as Asia/Shanghai)")
        return self

    @property
    def schedule(self) -> Schedule | None:
        if self.windows is None:
            return None
        return Schedule(timezone=self.timezone, windows=self.windows, holidays=self.holidays)
