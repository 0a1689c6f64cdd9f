"""Demo data: one district of Nanjing (Gulou), six grid cells with an officer each always on duty, a commander
who supervises them, a technician, and cameras. Idempotent: running it again changes nothing."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import psycopg

from cloud_hub.auth.users import ensure_user

log = logging.getLogger(__name__)

DEMO_DISTRICT = {"district_id": "nj-gulou", "name": "Gulou", "city": "Nanjing"}
# Inside grid nj-gulou-01 (officer1), well away from its borders.
DEMO_LOCATION = {"lon": 118.7969, "lat": 32.0603}
DEMO_CAMERA_ID = "cam-demo-01"
DEMO_DEVICE_ID = "edge-demo-01"
DEMO_PASSWORD = "cityops-demo"

DEMO_LOGINS: list[dict[str, str]] = [
    *({"username": f"officer{n}", "password": DEMO_PASSWORD, "role": "officer"} for n in range(1, 7)),
    {"username": "commander1", "password": DEMO_PASSWORD, "role": "commander"},
    {"username": "tech1", "password": DEMO_PASSWORD, "role": "technician"},
]

_LON_EDGES = (118.780, 118.787, 118.794, 118.801)
_LAT_EDGES = (32.052, 32.058, 32.064)
# (column, row) of each grid, numbered so that grid 01 contains DEMO_LOCATION.
_CELLS = ((2, 1), (1, 1), (0, 1), (2, 0), (1, 0), (0, 0))


@dataclass(frozen=True, slots=True)
class DemoGrid:
    grid_id: str
    name: str
    officer: str
    west: float
    south: float
    east: float
    north: float

    def geojson(self) -> dict:
        ring = [
            [self.west, self.south],
            [self.east, self.south],
            [self.east, self.north],
            [self.west, self.north],
            [self.west, self.south],
        ]
        return {"type": "Polygon", "coordinates": [ring]}

    @property
    def center(self) -> tuple[float, float]:
        return round((self.west + self.east) / 2, 6), round((self.south + self.north) / 2, 6)


DEMO_GRIDS: tuple[DemoGrid, ...] = tuple(
    DemoGrid(
        grid_id=f"nj-gulou-{n:02d}",
        name=f"Gulou grid {n}",
        officer=f"officer{n}",
        west=_LON_EDGES[col],
        south=_LAT_EDGES[row],
        east=_LON_EDGES[col + 1],
        north=_LAT_EDGES[row + 1],
    )
    for n, (col, row) in enumerate(_CELLS, start=1)
)
DEMO_SUPERVISOR = "commander1"
# `cityops demo` puts a second officer on duty in the demo street's grid (through the admin roster API, so routing
# follows at once), so its parked cars are shared out by load balancing instead of all going to officer1. Not part
# of `seed_demo`: tests that seed the demo expect one officer per grid.
DEMO_SECOND_SHIFT = {"roster_id": f"demo/{DEMO_GRIDS[0].grid_id}/officer2", "grid_id": DEMO_GRIDS[0].grid_id,
                     "username": "officer2"}  # fmt: skip

DEMO_CAMERAS = (
    {
        "camera_id": DEMO_CAMERA_ID,
        "device_id": DEMO_DEVICE_ID,
        "name": "Demo street (no-parking zone)",
        **DEMO_LOCATION,
    },
    *(
        {
            "camera_id": f"cam-demo-{n:02d}",
            "device_id": None,
            "name": f"{grid.name} street camera",
            "lon": grid.center[0],
            "lat": grid.center[1],
        }
        for n, grid in enumerate(DEMO_GRIDS[1:], start=2)
    ),
)


def seed_demo(conn: psycopg.Connection) -> None:
    """Upsert the demo district, users, grids, rosters and cameras (caller commits)."""
    for login in DEMO_LOGINS:
        ensure_user(conn, login["username"], login["password"], login["role"], display_name=login["username"])
    conn.execute(
        "INSERT INTO districts (district_id, name, city) VALUES (%(district_id)s, %(name)s, %(city)s)"
        " ON CONFLICT (district_id) DO UPDATE SET name = EXCLUDED.name, city = EXCLUDED.city",
        DEMO_DISTRICT,
    )
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO grids (grid_id, district_id, name, polygon, supervisor) VALUES (%s, %s, %s, %s::jsonb, %s)
            ON CONFLICT (grid_id) DO UPDATE SET district_id = EXCLUDED.district_id, name = EXCLUDED.name,
                polygon = EXCLUDED.polygon, supervisor = EXCLUDED.supervisor, updated_at = now()
            WHERE (grids.district_id, grids.name, grids.polygon, grids.supervisor)
                IS DISTINCT FROM (EXCLUDED.district_id, EXCLUDED.name, EXCLUDED.polygon, EXCLUDED.supervisor)
            """,
            [
                (g.grid_id, DEMO_DISTRICT["district_id"], g.name, json.dumps(g.geojson()), DEMO_SUPERVISOR)
                for g in DEMO_GRIDS
            ],
        )
        cur.executemany(
            """
            INSERT INTO rosters (roster_id, grid_id, username, weekdays, start_time, end_time, priority)
            VALUES (%s, %s, %s, NULL, NULL, NULL, 100)
            ON CONFLICT (roster_id) DO NOTHING
            """,
            [(f"demo/{g.grid_id}/{g.officer}", g.grid_id, g.officer) for g in DEMO_GRIDS],
        )
        cur.executemany(
            """
            INSERT INTO cameras (camera_id, device_id, name, lon, lat, district)
            VALUES (%(camera_id)s, %(device_id)s, %(name)s, %(lon)s, %(lat)s, %(district)s)
            ON CONFLICT (camera_id) DO UPDATE SET device_id = EXCLUDED.device_id, name = EXCLUDED.name,
                lon = EXCLUDED.lon, lat = EXCLUDED.lat, district = EXCLUDED.district, updated_at = now()
            WHERE (cameras.device_id, cameras.name, cameras.lon, cameras.lat, cameras.district)
                IS DISTINCT FROM (EXCLUDED.device_id, EXCLUDED.name, EXCLUDED.lon, EXCLUDED.lat, EXCLUDED.district)
            """,
            [{**camera, "district": DEMO_DISTRICT["district_id"]} for camera in DEMO_CAMERAS],
        )
    log.info(
        "demo seed: district %s, %d grids, %d logins, %d cameras (%s at %s)",
        DEMO_DISTRICT["name"],
        len(DEMO_GRIDS),
        len(DEMO_LOGINS),
        len(DEMO_CAMERAS),
        DEMO_CAMERA_ID,
        DEMO_LOCATION,
    )
