"""Grids and rosters read from the database into a GridIndex, refreshed periodically (all replicas converge)."""

from __future__ import annotations

import logging
import threading
import time as clock
from collections.abc import Callable

import psycopg
from psycopg.rows import dict_row

from cloud_hub.dispatch.routing import Grid, GridError, GridIndex, RosterEntry

log = logging.getLogger(__name__)


def load_grid_index(conn: psycopg.Connection) -> GridIndex:
    """Every grid (with its supervisor when active) and the active users' roster entries; a grid with a bad polygon
    is skipped with an error log, not fatal."""
    grids: list[Grid] = []
    with conn.cursor(row_factory=dict_row) as cur:
        # A disabled supervisor takes no work: routing falls back past them (to the district's commander queue).
        cur.execute(
            "SELECT g.grid_id, g.district_id, g.name, g.polygon, CASE WHEN u.active THEN g.supervisor END AS supervisor"
            " FROM grids g LEFT JOIN users u ON u.username = g.supervisor ORDER BY g.grid_id"
        )
        for row in cur.fetchall():
            try:
                grids.append(
                    Grid.from_geojson(
                        row["grid_id"],
                        row["polygon"],
                        district_id=row["district_id"],
                        name=row["name"],
                        supervisor=row["supervisor"],
                    )
                )
            except GridError as exc:
                log.error("%s; events in it will not be routed until the grid is fixed", exc)
        cur.execute(
            """
            SELECT r.grid_id, r.username, r.weekdays, r.start_time, r.end_time, r.timezone, r.priority
            FROM rosters r JOIN users u USING (username)
            WHERE u.active
            """
        )
        rosters = [
            RosterEntry(
                grid_id=row["grid_id"],
                username=row["username"],
                weekdays=frozenset(row["weekdays"]) if row["weekdays"] else None,
                start=row["start_time"],
                end=row["end_time"],
                timezone=row["timezone"],
                priority=row["priority"],
            )
            for row in cur.fetchall()
        ]
    return GridIndex(grids, rosters)


class GridDirectory:
    """The GridIndex in use; `refresh_if_stale` reloads it at most every `max_age_s` seconds."""

    def __init__(self, index: GridIndex, max_age_s: float = 60.0, monotonic: Callable[[], float] = clock.monotonic):
        self._index = index
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._loaded_at = monotonic()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, conn: psycopg.Connection, max_age_s: float = 60.0) -> GridDirectory:
        return cls(load_grid_index(conn), max_age_s=max_age_s)

    @property
    def index(self) -> GridIndex:
        return self._index

    def reload(self, conn: psycopg.Connection) -> GridIndex:
        index = load_grid_index(conn)
        with self._lock:
            self._index = index
            self._loaded_at = self._monotonic()
        return index

    def refresh_if_stale(self, conn: psycopg.Connection) -> GridIndex:
        if self._monotonic() - self._loaded_at >= self._max_age_s:
            return self.reload(conn)
        return self._index
