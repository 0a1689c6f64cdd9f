"""Routing, pure: which grid a point lies in (shapely STRtree), who is on duty there, who supervises it, which grids
border it; and who of several officers gets the next order (`cloud_hub.dispatch.assign`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree


class GridError(ValueError):
    """A grid polygon that cannot be used; the message names the grid."""


@dataclass(frozen=True, slots=True)
class Grid:
    grid_id: str
    polygon: BaseGeometry
    district_id: str | None = None
    name: str | None = None
    supervisor: str | None = None

    @classmethod
    def from_geojson(cls, grid_id: str, geojson: Mapping[str, Any], **fields: Any) -> Grid:
        try:
            polygon = shape(geojson)
        # ShapelyError covers GEOS's own refusals too, e.g. a ring that a NaN coordinate keeps from closing.
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.ShapelyError) as exc:
            raise GridError(f"grid {grid_id}: polygon is not GeoJSON: {exc}") from None
        if polygon.geom_type not in ("Polygon", "MultiPolygon") or polygon.is_empty:
            raise GridError(f"grid {grid_id}: polygon must be a non-empty Polygon or MultiPolygon")
        if not polygon.is_valid:
            raise GridError(f"grid {grid_id}: polygon is invalid ({shapely.is_valid_reason(polygon)})")
        return cls(grid_id=grid_id, polygon=polygon, **fields)


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """An officer on duty in a grid: every day or on ISO weekdays (1=Mon), all day or in a local-time window.

    A window whose start is after its end crosses midnight; its weekday is the day the shift starts.
    """

    grid_id: str
    username: str
    weekdays: frozenset[int] | None = None
    start: time | None = None
    end: time | None = None
    timezone: str = "Asia/Shanghai"
    priority: int = 100

    def on_duty(self, at: datetime) -> bool:
        if at.tzinfo is None:
            raise ValueError("roster check needs a timezone-aware time")
        local = at.astimezone(ZoneInfo(self.timezone))
        if self.start is None or self.end is None:
            return self._day_ok(local.isoweekday())
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= now < self.end and self._day_ok(local.isoweekday())
        if now >= self.start:  # evening part of an overnight shift
            return self._day_ok(local.isoweekday())
        if now < self.end:  # morning part: the shift began yesterday
            return self._day_ok((local - timedelta(days=1)).isoweekday())
        return False

    def _day_ok(self, weekday: int) -> bool:
        return self.weekdays is None or weekday in self.weekdays


class GridIndex:
    """Immutable lookup over a set of grids and their rosters."""

    def __init__(self, grids: Iterable[Grid], rosters: Iterable[RosterEntry] = ()) -> None:
        self._grids = sorted(grids, key=lambda g: g.grid_id)
        self._by_id = {g.grid_id: g for g in self._grids}
        if len(self._by_id) != len(self._grids):
            raise GridError("duplicate grid_id in grid list")
        self._tree = STRtree([g.polygon for g in self._grids])
        self._rosters: dict[str, list[RosterEntry]] = {}
        for entry in rosters:
            self._rosters.setdefault(entry.grid_id, []).append(entry)
        for entries in self._rosters.values():
            entries.sort(key=lambda e: (e.priority, e.username))
        self._neighbours: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._grids)

    def grid(self, grid_id: str) -> Grid | None:
        return self._by_id.get(grid_id)

    def grid_for(self, lon: float, lat: float) -> Grid | None:
        """The grid containing the point. A point on a shared border belongs to the grid with the lowest id,
        so the answer never depends on the order grids were loaded in."""
        hits = self._tree.query(shapely.Point(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        return self._grids[int(min(hits))]  # grids are sorted by id, so the lowest index is the lowest id

    def officer_on_duty(self, grid_id: str, at: datetime) -> str | None:
        """The officer on duty in the grid at `at` (lowest priority value, then username), or None."""
        for entry in self._rosters.get(grid_id, ()):
            if entry.on_duty(at):
                return entry.username
        return None

    def officers_on_duty(self, grid_id: str, at: datetime) -> list[str]:
        """Everyone on duty in the grid at `at` with the best (lowest) roster priority, by username: the officers
        an order is balanced among (a higher priority value is a backup, used only when nobody better is on duty)."""
        best: int | None = None
        found: set[str] = set()
        for entry in self._rosters.get(grid_id, ()):
            if best is not None and entry.priority > best:
                break
            if entry.on_duty(at):
                best = entry.priority
                found.add(entry.username)
        return sorted(found)

    def neighbours(self, grid_id: str) -> tuple[str, ...]:
        """Grids sharing a border with this one (a common edge or overlap, not a single corner point), by id."""
        cached = self._neighbours.get(grid_id)
        if cached is not None:
            return cached
        grid = self._by_id.get(grid_id)
        found: list[str] = []
        if grid is not None:
            for i in self._tree.query(grid.polygon, predicate="intersects"):
                other = self._grids[int(i)]
                if other.grid_id != grid_id and shapely.intersection(grid.polygon, other.polygon).length > 0:
                    found.append(other.grid_id)
        result = tuple(sorted(found))
        self._neighbours[grid_id] = result  # the index never changes: a reload builds a new one
        return result

    def supervisor(self, grid_id: str | None) -> str | None:
        """Who an escalation goes to for this grid."""
        grid = self._by_id.get(grid_id) if grid_id else None
        return grid.supervisor if grid else None
