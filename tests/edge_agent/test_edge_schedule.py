"""Weekly time windows (shared by parking, road occupation and kitchen business hours) and the shipped rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from edge_agent.analytics.parking import ParkingRuleConfig
from edge_agent.analytics.schedule import Schedule, WeeklyWindow
from edge_agent.config import ConfigError
from edge_agent.models.manifest import load_manifest
from edge_agent.rules import load_rules

REPO = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def at(day: int, hh: int, mm: int = 0, ss: int = 0, month: int = 7, tz=SHANGHAI) -> datetime:
    """A 2026 instant in `tz` (2026-07-01 is a Wednesday, 07-03 a Friday, 07-04 a Saturday)."""
    return datetime(2026, month, day, hh, mm, ss, tzinfo=tz)


def working_hours(**extra) -> Schedule:
    return Schedule(timezone="Asia/Shanghai", windows=[{"days": WORKDAYS, "start": "07:00", "end": "19:00"}], **extra)


def test_working_day_window_in_its_time_zone() -> None:
    s = working_hours()
    assert not s.active(at(1, 6, 59, 59)) and s.active(at(1, 7)) and s.active(at(1, 18, 59, 59))
    assert not s.active(at(1, 19))  # the end is exclusive
    assert not s.active(at(4, 12))  # Saturday
    # The same instant written in UTC: 23:30 UTC on Tuesday is 07:30 Wednesday in Shanghai.
    assert s.active(datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    assert not s.active(datetime(2026, 7, 1, 11, 30, tzinfo=UTC))  # 19:30 in Shanghai


def test_overnight_window_belongs_to_the_day_it_opens() -> None:
    late = Schedule(timezone="UTC", windows=[{"days": ["fri"], "start": "22:00", "end": "06:00"}])
    assert late.active(at(3, 23, tz=UTC)) and late.active(at(4, 5, 59, tz=UTC))  # Fri 23:00, Sat 05:59
    assert not late.active(at(4, 23, tz=UTC))  # Saturday night: not a listed opening
    assert not late.active(at(3, 5, tz=UTC))  # Friday early morning belongs to Thursday's (unlisted) night
    assert late.opened_at(at(4, 3, tz=UTC)) == at(3, 22, tz=UTC)


def test_equal_start_and_end_is_a_whole_day() -> None:
    sunday = Schedule(timezone="UTC", windows=[{"days": ["sun"], "start": "00:00", "end": "00:00"}])
    assert sunday.active(datetime(2026, 7, 5, 0, 0, tzinfo=UTC)) and sunday.active(
        datetime(2026, 7, 5, 23, 59, tzinfo=UTC)
    )
    assert not sunday.active(datetime(2026, 7, 6, 0, 0, tzinfo=UTC))


def test_holidays_cancel_that_days_openings_only() -> None:
    s = working_hours(holidays=["2026-10-01"])
    assert not s.active(at(1, 9, month=10)) and s.active(at(2, 9, month=10))
    night = Schedule(
        timezone="UTC", windows=[{"days": WORKDAYS, "start": "20:00", "end": "02:00"}], holidays=[date(2026, 7, 2)]
    )
    assert night.active(at(2, 1, tz=UTC))  # Wednesday night's opening runs out on the holiday morning
    assert not night.active(at(2, 21, tz=UTC))  # the holiday's own evening opening is cancelled


def test_opened_at_follows_touching_windows_back_to_the_first_opening() -> None:
    s = Schedule(
        timezone="Asia/Shanghai",
        windows=[
            {"days": WORKDAYS, "start": "07:00", "end": "12:00"},
            {"days": WORKDAYS, "start": "12:00", "end": "19:00"},
        ],
    )
    assert s.opened_at(at(1, 13)) == at(1, 7).astimezone(UTC)
    assert s.opened_at(at(1, 20)) is None
    always = Schedule(timezone="UTC", windows=[{"start": "00:00", "end": "00:00"}])
    assert always.opened_at(at(1, 12, tz=UTC)) < at(1, 12, tz=UTC)  # no opening: some instant well in the past


def test_daylight_saving_zone_uses_local_wall_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    s = Schedule(timezone="Europe/Berlin", windows=[{"days": ["mon"], "start": "07:00", "end": "19:00"}])
    # 07:00 Berlin is 06:00 UTC in winter (CET) and 05:00 UTC in summer (CEST).
    assert s.active(datetime(2026, 3, 23, 6, 0, tzinfo=UTC)) and not s.active(datetime(2026, 3, 30, 4, 59, tzinfo=UTC))
    assert s.active(datetime(2026, 3, 30, 5, 0, tzinfo=UTC))
    assert s.opened_at(datetime(2026, 3, 30, 9, 0, tzinfo=berlin)) == datetime(2026, 3, 30, 5, 0, tzinfo=UTC)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        working_hours().active(datetime(2026, 7, 1, 9, 0))


def test_weekly_window_contains_local_wall_time() -> None:
    window = WeeklyWindow(days=["fri"], start=time(18), end=time(2))
    assert window.contains(datetime(2026, 7, 3, 23, 0)) and window.contains(datetime(2026, 7, 4, 1, 0))
    assert not window.contains(datetime(2026, 7, 4, 2, 0))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"windows": [{"days": ["someday"]}]}, r"windows\.0\.days\.0"),
        ({"windows": [{"start": "07:60"}]}, r"windows\.0\.start"),
        ({"windows": []}, "at least 1 item"),
        ({"windows": [{"start": "07:00", "colour": "red"}]}, r"windows\.0\.colour"),
        ({"windows": [{"start": "07:00+08:00"}]}, "without offset"),
        ({"holidays": ["2026-13-01"]}, r"holidays\.0"),
    ],
)
def test_bad_schedules_name_the_field(fields, message) -> None:
    data = {"timezone": "Asia/Shanghai", "windows": [{"days": WORKDAYS, "start": "07:00", "end": "19:00"}], **fields}
    with pytest.raises(ValidationError, match=message):
        Schedule.model_validate(data)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"windows": [{"start": "07:00", "end": "19:00"}]}, "windows need a timezone"),
        ({"timezone": "Asia/Shanghai"}, "timezone only apply with windows"),
        ({"grace_s": 60, "holidays": ["2026-10-01"]}, "holidays, grace_s only apply with windows"),
        ({"windows": [{"start": "07:00"}], "timezone": "UTC", "grace_s": -1}, "grace_s"),
    ],
)
def test_parking_rule_window_fields_must_be_complete(fields, message) -> None:
    with pytest.raises(ValidationError, match=message):
        ParkingRuleConfig(type="parking", zones=["z"], **fields)


def test_rule_without_windows_has_no_schedule() -> None:
    assert ParkingRuleConfig(type="parking", zones=["z"]).schedule is None


@pytest.mark.parametrize(
    "fields", [{}, {"windows": [{"start": "07:00"}], "timezone": "UTC", "holidays": ["2026-10-01"], "grace_s": 30}]
)
def test_rules_survive_a_dump_and_reload(fields) -> None:
    """Remote configuration sends rules as their full dump, empty defaults included."""
    rule = ParkingRuleConfig(type="parking", zones=["z"], **fields)
    assert ParkingRuleConfig.model_validate(rule.model_dump(mode="json")) == rule
    assert ParkingRuleConfig.model_validate(rule.model_dump()) == rule


EDGE_RULES = sorted((REPO / "rules" / "edge").glob("*.yaml"))
CUSTOM_MODEL_RULES = {"kitchen-custom-model.yaml"}  # written for a customer model with chef_hat, rat, ...


@pytest.mark.parametrize("path", EDGE_RULES, ids=lambda p: p.name)
def test_every_shipped_edge_rules_file_loads(path: Path) -> None:
    rules = load_rules(path)
    coco = load_manifest().get("yolox_nano").classes
    if path.name in CUSTOM_MODEL_RULES:
        with pytest.raises(ConfigError, match="not classes of the loaded model"):
            rules.check_classes(coco, path.name)
    else:
        rules.check_classes(coco, path.name)


def test_shipped_rules_include_the_windowed_examples() -> None:
    assert {p.name for p in EDGE_RULES} >= {"parking-with-plates.yaml", "road-occupation-street.yaml"}
    (parking,) = load_rules(REPO / "rules" / "edge" / "parking-with-plates.yaml").analytics
    assert (parking.dwell_s, parking.update_every_s, parking.leave_after_s) == (300, 60, 20)
    assert parking.plates.read and parking.plates.blur
    schedule = parking.schedule
    assert schedule is not None and schedule.timezone == "Asia/Shanghai"
    assert schedule.active(at(1, 7)) and not schedule.active(at(1, 19)) and not schedule.active(at(4, 12))
    (vending,) = load_rules(REPO / "rules" / "edge" / "road-occupation-street.yaml").analytics
    assert vending.schedule is not None and vending.schedule.active(at(5, 1, 30))  # Sunday 01:30: Saturday's night
