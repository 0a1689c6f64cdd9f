"""Schemas of the hub rule files (rules/hub/*.yaml); unknown keys are refused so a typo names its field."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Severity = Literal["red", "orange", "yellow", "blue"]
SEVERITIES: tuple[str, ...] = ("red", "orange", "yellow", "blue")  # most urgent first
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class RulesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- severity.yaml -------------------------------------------------------------------------------------------


class SeverityRule(RulesModel):
    """First matching rule wins. Unset conditions match anything."""

    kind: str | None = None
    subtype: list[str] | None = Field(None, description="any of these subtypes")
    measurement: str | None = Field(None, description="measurement key, e.g. dwell_s or water_depth_cm")
    gte: float | None = None
    lt: float | None = None
    severity: Severity

    @field_validator("subtype", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _bounds_need_measurement(self) -> SeverityRule:
        if (self.gte is not None or self.lt is not None) and self.measurement is None:
            raise ValueError("gte/lt compare a measurement: set `measurement` (e.g. dwell_s)")
        if self.measurement is not None and self.gte is None and self.lt is None:
            raise ValueError(f"measurement {self.measurement!r} given without gte or lt")
        return self


class SeverityRules(RulesModel):
    version: int = 1
    default: Severity = "yellow"
    rules: list[SeverityRule] = Field(default_factory=list)


# ---- sla.yaml ------------------------------------------------------------------------------------------------


class CalendarSpec(RulesModel):
    """Working time: `always: true` (24x7), or weekdays and local hours, minus holidays.

    Which days are working days, first rule that applies: the city's `working_days`, the city's `holidays`, the
    `national` calendar's make-up working days (调休) and public holidays, then `weekdays`.
    """

    timezone: str = "Asia/Shanghai"
    always: bool = False
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], description="1=Mon .. 7=Sun or mon..sun")
    hours: tuple[str, str] = ("08:30", "17:30")
    national: Literal["cn"] | None = Field(
        None,
        description="cn: China's public holidays and make-up working days (调休) from the chinese-calendar package; "
        "years it has no data for yet fall back to `weekdays` (update the package when the State Council publishes "
        "the next year's schedule)",
    )
    holidays: list[date] = Field(default_factory=list, description="the city's own extra days off")
    working_days: list[date] = Field(
        default_factory=list, description="the city's own extra working days (also on weekends or public holidays)"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("weekdays", mode="before")
    @classmethod
    def _weekday_names(cls, value: object) -> object:
        if isinstance(value, list):
            return [_WEEKDAYS.get(v.lower(), v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekday_range(cls, value: list[int]) -> list[int]:
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError("weekdays must be a non-empty list of 1..7 (Mon..Sun) or mon..sun")
        return sorted(set(value))

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: tuple[str, str]) -> tuple[str, str]:
        if not all(_HHMM.match(v) for v in value) or value[0] >= value[1]:
            raise ValueError('hours must be ["HH:MM", "HH:MM"] with start before end, e.g. ["08:30", "17:30"]')
        return value

    @model_validator(mode="after")
    def _days_not_both(self) -> CalendarSpec:
        both = sorted(set(self.holidays) & set(self.working_days))
        if both:
            raise ValueError(
                f"{', '.join(d.isoformat() for d in both)} listed both in holidays and working_days; keep one"
            )
        return self

    @property
    def start(self) -> time:
        return time.fromisoformat(self.hours[0])

    @property
    def end(self) -> time:
        return time.fromisoformat(self.hours[1])


class SeverityMinutes(RulesModel):
    red: int = Field(gt=0)
    orange: int = Field(gt=0)
    yellow: int = Field(gt=0)
    blue: int = Field(gt=0)


class SlaRules(RulesModel):
    version: int = 1
    calendars: dict[str, CalendarSpec] = Field(
        default_factory=lambda: {"always": CalendarSpec(always=True), "office": CalendarSpec()}
    )
    severity_calendar: dict[Severity, str] = Field(
        default_factory=lambda: {"red": "always", "orange": "office", "yellow": "office", "blue": "office"}
    )
    default: SeverityMinutes = SeverityMinutes(red=30, orange=120, yellow=240, blue=480)
    kinds: dict[str, SeverityMinutes] = Field(default_factory=dict, description="per event kind, overrides default")

    @model_validator(mode="after")
    def _calendars_exist(self) -> SlaRules:
        for severity in SEVERITIES:
            name = self.severity_calendar.get(severity)  # type: ignore[call-overload]
            if name is None:
                raise ValueError(f"severity_calendar has no entry for {severity}")
            if name not in self.calendars:
                raise ValueError(
                    f"severity_calendar.{severity} names calendar {name!r}, which is not among calendars "
                    f"({', '.join(self.calendars) or 'none'})"
                )
        return self

    def minutes(self, kind: str, severity: str) -> int:
        return getattr(self.kinds.get(kind, self.default), severity)

    def calendar(self, severity: str) -> CalendarSpec:
        return self.calendars[self.severity_calendar[severity]]  # type: ignore[index]


# ---- merge.yaml ----------------------------------------------------------------------------------------------


class MergeRule(RulesModel):
    """A situation that starts near an open incident of the same kind joins it instead of opening a new one."""

    kind: str = Field(min_length=1, description="event kind, e.g. waterlogging")
    distance_m: float = Field(gt=0, le=5000, description="metres between the new situation and the incident's place")
    window_s: float = Field(
        gt=0, le=7 * 86400, description="seconds the new situation may start before or after the incident was seen"
    )
    same_source_min_iou: float = Field(
        0.5,
        gt=0,
        le=1,
        description="a new incident key of a camera that already feeds the incident joins it only when its box "
        "overlaps that camera's box at least this much (intersection over union): the same object again, e.g. "
        "after an edge restart gave it a new track id; a different box is a different object",
    )


class MergeRules(RulesModel):
    version: int = 1
    rules: list[MergeRule] = Field(default_factory=list, description="at most one rule per kind")

    @model_validator(mode="after")
    def _one_per_kind(self) -> MergeRules:
        kinds = [rule.kind for rule in self.rules]
        twice = sorted({k for k in kinds if kinds.count(k) > 1})
        if twice:
            raise ValueError(f"more than one rule for kind {', '.join(twice)}; keep one per kind")
        return self

    def for_kind(self, kind: str) -> MergeRule | None:
        for rule in self.rules:
            if rule.kind == kind:
                return rule
        return None


# ---- routing.yaml --------------------------------------------------------------------------------------------

Fallback = Literal["neighbour_grids", "supervisor"]


class RoutingRules(RulesModel):
    """Who gets a new work order: an officer on duty in the place's grid (the fewest open orders, then round robin),
    else the `fallbacks` in order, else the district's commander queue (left registered)."""

    version: int = 1
    fallbacks: list[Fallback] = Field(
        default_factory=lambda: ["neighbour_grids", "supervisor"],
        description="neighbour_grids: officers on duty in the grids sharing a border; supervisor: the grid's",
    )

    @field_validator("fallbacks")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each fallback at most once, e.g. [neighbour_grids, supervisor]")
        return value


class HubRules(RulesModel):
    severity: SeverityRules = SeverityRules()
    sla: SlaRules = SlaRules()
    merge: MergeRules = MergeRules()
    routing: RoutingRules = RoutingRules()
