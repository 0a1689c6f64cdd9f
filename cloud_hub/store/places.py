"""Where each event source is (grid and district), for the events rollup: `event_places`.

Grids are GeoJSON polygons matched in Python (no PostGIS), so neither a continuous aggregate nor a view can join
events to grids; instead the hub places every source (a camera, or a device without a camera) with the same rule
as the incident processor: the camera's registered location, else the device's, then the grid containing it;
the district is the grid's, else the camera's. Rollup rows are attributed to the source's current place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from cloud_hub.dispatch.directory import load_grid_index
from cloud_hub.dispatch.routing import GridIndex

NEW_SOURCES_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Source:
    device_id: str
    camera_id: str  # '' for a device's own events (sensors)
    camera_lon: float | None = None
    camera_lat: float | None = None
    camera_district: str | None = None
    device_lon: float | None = None
    device_lat: float | None = None


def place(source: Source, index: GridIndex) -> tuple[str | None, str | None]:
    """(grid_id, district) of a source; (None, camera district) when no registered location is in a grid."""
    lon, lat = source.camera_lon, source.camera_lat
    if lon is None or lat is None:
        lon, lat = source.device_lon, source.device_lat
    grid = index.grid_for(lon, lat) if lon is not None and lat is not None else None
    district = grid.district_id if grid is not None and grid.district_id else source.camera_district
    return (grid.grid_id if grid is not None else None), district


_SOURCES = """
WITH keys AS (
    SELECT DISTINCT device_id, coalesce(camera_id, '') AS camera_id FROM rollup_events_hourly
    WHERE %(since)s::timestamptz IS NULL OR bucket >= %(since)s
    UNION
    SELECT device_id, camera_id FROM event_places
)
SELECT k.device_id, k.camera_id, c.lon, c.lat, c.district, d.lon, d.lat
FROM keys k
LEFT JOIN cameras c ON c.camera_id = NULLIF(k.camera_id, '')
LEFT JOIN devices d ON d.device_id = k.device_id
"""


def refresh_event_places(conn: psycopg.Connection, now: datetime, index: GridIndex | None = None) -> int:
    """Place the sources seen in the last couple of days (every source on the first run) and re-place the known
    ones (cameras move, grids are redrawn); returns how many places changed. One transaction."""
    with conn.transaction():
        index = index if index is not None else load_grid_index(conn)
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM event_places)").fetchone()[0]
        since = None if empty else now - NEW_SOURCES_LOOKBACK
        sources = [Source(*row) for row in conn.execute(_SOURCES, {"since": since}).fetchall()]
        rows = [(s.device_id, s.camera_id, *place(s, index)) for s in sources]
        if not rows:
            return 0
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO event_places (device_id, camera_id, grid_id, district) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (device_id, camera_id) DO UPDATE"
                " SET grid_id = EXCLUDED.grid_id, district = EXCLUDED.district, updated_at = now()"
                " WHERE (event_places.grid_id, event_places.district)"
                " IS DISTINCT FROM (EXCLUDED.grid_id, EXCLUDED.district)",
                rows,
            )
            changed = cur.rowcount
    return changed
