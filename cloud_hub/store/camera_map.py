"""The cameras of the map and fleet view: place, device, the device's state fields, and an open camera fault.

`device_status` needs `now`, so the status itself is computed by the caller (`cloud_hub.devices.status`, pure)
from the state fields read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud_hub.auth.scope import MAINTENANCE_KINDS
from cloud_hub.devices.status import INTERVAL_KEYS

MAX_CAMERAS = 10_000

# The health fields device_status reads, not the whole snapshot (the map asks for every camera at once).
_HEALTH = (
    "CASE WHEN d.health IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object("
    + ", ".join(f"'{k}', d.health -> '{k}'" for k in ("ts", *INTERVAL_KEYS))
    + ")) END AS health"
)
# Each camera's newest open fault, found in one pass over the open incidents (not one look-up per camera).
_FAULTS = (
    "SELECT DISTINCT ON (i.camera_id) i.camera_id, i.id, i.severity FROM incidents i"
    " WHERE i.status = 'open' AND i.kind = ANY(%(fault_kinds)s) AND i.camera_id IS NOT NULL"
    " ORDER BY i.camera_id, i.last_seen DESC, i.id DESC"
)


@dataclass(frozen=True, slots=True)
class CameraMapFilters:
    district: str | None = None
    device_id: str | None = None
    fault: bool | None = None  # True: only cameras with an open fault; False: only without
    limit: int = 5000
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_CAMERAS:
            raise ValueError(f"limit must be 1..{MAX_CAMERAS}, got {self.limit}")
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0, got {self.offset}")


def list_camera_map(conn: psycopg.Connection, filters: CameraMapFilters) -> tuple[list[dict[str, Any]], int]:
    """Cameras by id with their grid (`event_places`), device state fields (NULL when the device is not
    registered) and their newest open camera-fault incident (fault_incident_id, fault_severity); and the count."""
    where, params = ["TRUE"], {"fault_kinds": list(MAINTENANCE_KINDS)}
    for column in ("district", "device_id"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"c.{column} = %({column})s")
            params[column] = value
    if filters.fault is not None:
        where.append(f"f.id IS {'NOT ' if filters.fault else ''}NULL")
    body = (
        "FROM cameras c LEFT JOIN devices d ON d.device_id = c.device_id"
        " LEFT JOIN event_places p ON p.device_id = c.device_id AND p.camera_id = c.camera_id"
        f" LEFT JOIN ({_FAULTS}) f ON f.camera_id = c.camera_id WHERE {' AND '.join(where)}"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT c.camera_id, c.name, c.lon, c.lat, c.district, p.grid_id, c.device_id,"
            f" d.device_id IS NOT NULL AS registered, d.online, d.last_seen, {_HEALTH},"
            f" f.id AS fault_incident_id, f.severity AS fault_severity {body}"
            " ORDER BY c.camera_id LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": filters.limit, "offset": filters.offset},
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n {body}", params).fetchone()
    return rows, int(total["n"]) if total else 0
