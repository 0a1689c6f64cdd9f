"""Grid lookup (inside, on a border, outside) and duty rosters (always, weekdays, windows, overnight)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from cloud_hub.dispatch.routing import Grid, GridError, GridIndex, RosterEntry

SH = ZoneInfo("Asia/Shanghai")


def square(grid_id: str, west: float, south: float, size: float = 1.0, **kw) -> Grid:
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return Grid.from_geojson(grid_id, {"type": "Polygon", "coordinates": [ring]}, **kw)


@pytest.fixture
def index() -> GridIndex:
    # Loaded out of id order on purpose: the border rule must not depend on load order.
    grids = [square("g-b", 1, 0, supervisor="boss"), square("g-a", 0, 0), square("g-c", 5, 5)]
    rosters = [
        RosterEntry("g-a", "always-a"),
        RosterEntry("g-b", "day-b", weekdays=frozenset({1, 2, 3, 4, 5}), start=time(8, 30), end=time(17, 30)),
        RosterEntry("g-b", "night-b", start=time(22, 0), end=time(6, 0), weekdays=frozenset({5})),
        RosterEntry("g-b", "backup-b", priority=200),
    ]
    return GridIndex(grids, rosters)


def test_point_inside_one_grid(index: GridIndex) -> None:
    assert index.grid_for(0.5, 0.5).grid_id == "g-a"
    assert index.grid_for(1.5, 0.2).grid_id == "g-b"


def test_point_on_a_shared_border_goes_to_the_lowest_grid_id(index: GridIndex) -> None:
    assert index.grid_for(1.0, 0.5).grid_id == "g-a"
    assert index.grid_for(0.0, 0.0).grid_id == "g-a"  # a corner still counts


def test_point_outside_all_grids(index: GridIndex) -> None:
    assert index.grid_for(3.0, 3.0) is None
    assert index.grid_for(-0.0001, 0.5) is None


def test_always_on_roster(index: GridIndex) -> None:
    assert index.officer_on_duty("g-a", datetime(2026, 11, 29, 3, 0, tzinfo=UTC)) == "always-a"


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 11, 23, 9, 0, tzinfo=SH), "day-b"),  # Monday office hours
        (datetime(2026, 11, 23, 17, 30, tzinfo=SH), "backup-b"),  # window end is exclusive
        (datetime(2026, 11, 28, 10, 0, tzinfo=SH), "backup-b"),  # Saturday
        (datetime(2026, 11, 27, 23, 0, tzinfo=SH), "night-b"),  # Friday night shift
        (datetime(2026, 11, 28, 5, 59, tzinfo=SH), "night-b"),  # its Saturday-morning tail
        (datetime(2026, 11, 24, 5, 0, tzinfo=SH), "backup-b"),  # Tuesday morning: no Monday night shift
    ],
)
def test_roster_windows(index: GridIndex, local: datetime, expected: str) -> None:
    assert index.officer_on_duty("g-b", local.astimezone(UTC)) == expected


def test_nobody_on_duty_and_supervisor(index: GridIndex) -> None:
    assert index.officer_on_duty("g-c", datetime(2026, 11, 23, 9, 0, tzinfo=SH)) is None
    assert index.supervisor("g-b") == "boss"
    assert index.supervisor("g-a") is None
    assert index.supervisor(None) is None


@pytest.mark.parametrize(
    ("geojson", "message"),
    [
        ({"type": "Point", "coordinates": [0, 0]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "invalid"),
        ({"coordinates": []}, "not GeoJSON"),
    ],
)
def test_bad_polygons_name_the_grid(geojson: dict, message: str) -> None:
    with pytest.raises(GridError, match=f"grid g-x.*{message}"):
        Grid.from_geojson("g-x", geojson)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RosterEntry("g", "u").on_duty(datetime(2026, 1, 1))
