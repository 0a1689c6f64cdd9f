"""Cameras and their places (table `cameras`): which device films where, in which district."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud_hub.admin.districts import check_districts_exist
from cloud_hub.admin.errors import conflict, invalid, not_found

# Row lock for a change: the `before` of the change record is the row the change replaces.
LOCK = " FOR UPDATE"


class _Place(BaseModel):
    lon: float | None = Field(None, ge=-180, le=180, description="WGS 84 longitude; give lat with it")
    lat: float | None = Field(None, ge=-90, le=90, description="WGS 84 latitude; give lon with it")

    @model_validator(mode="after")
    def _both_or_neither(self) -> _Place:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together: give both (the camera's place) or neither")
        for name in ("lon", "lat"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number")
        return self


class CameraCreate(_Place):
    model_config = ConfigDict(extra="forbid")

    camera_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="1-64 chars of [A-Za-z0-9_.-]")
    device_id: str | None = Field(None, description="the provisioned device that runs this camera")
    name: str | None = Field(None, max_length=200)
    district: str | None = Field(None, description="district_id of an existing district")


class CameraUpdate(BaseModel):
    """Only the fields sent change; null clears a field. lon and lat are checked together after the merge."""

    model_config = ConfigDict(extra="forbid")

    device_id: str | None = None
    name: str | None = Field(None, max_length=200)
    lon: float | None = None
    lat: float | None = None
    district: str | None = None


class CameraPublic(BaseModel):
    camera_id: str
    device_id: str | None
    name: str | None
    lon: float | None
    lat: float | None
    district: str | None
    grid_id: str | None = Field(None, description="the grid the camera's place lies in (routing's answer)")
    updated_at: datetime


_COLUMNS = "camera_id, device_id, name, lon, lat, district, updated_at"


@dataclass(frozen=True, slots=True)
class CameraFilters:
    district: str | None = None
    device_id: str | None = None
    q: str | None = None
    placed: bool | None = None
    limit: int = 100
    offset: int = 0


def list_cameras(conn: psycopg.Connection, f: CameraFilters) -> tuple[list[CameraPublic], int]:
    where = (
        "(%(district)s::text IS NULL OR district = %(district)s)"
        " AND (%(device)s::text IS NULL OR device_id = %(device)s)"
        " AND (%(q)s::text IS NULL OR camera_id ILIKE %(q)s OR name ILIKE %(q)s)"
        " AND (%(placed)s::boolean IS NULL OR (lon IS NOT NULL) = %(placed)s)"
    )
    params = {
        "district": f.district,
        "device": f.device_id,
        "q": f"%{f.q}%" if f.q else None,
        "placed": f.placed,
        "limit": f.limit,
        "offset": f.offset,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM cameras WHERE {where} ORDER BY camera_id LIMIT %(limit)s OFFSET %(offset)s", params
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n FROM cameras WHERE {where}", params).fetchone()
    return [CameraPublic.model_validate(r) for r in rows], int(total["n"]) if total else 0


def get_camera(conn: psycopg.Connection, camera_id: str, *, lock: bool = False) -> CameraPublic | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM cameras WHERE camera_id = %s" + (LOCK if lock else ""), (camera_id,)
        ).fetchone()
    return CameraPublic.model_validate(row) if row else None


def require_camera(conn: psycopg.Connection, camera_id: str, *, lock: bool = False) -> CameraPublic:
    found = get_camera(conn, camera_id, lock=lock)
    if found is None:
        raise not_found(f"camera {camera_id!r}")
    return found


def _check_refs(conn: psycopg.Connection, device_id: str | None, district: str | None) -> None:
    if (
        device_id is not None
        and conn.execute("SELECT 1 FROM devices WHERE device_id = %s", (device_id,)).fetchone() is None
    ):
        raise invalid(
            "device_id", f"device {device_id!r} is not provisioned; provision it first (POST /api/v1/devices)"
        )
    if district is not None:
        check_districts_exist(conn, [district], "district")


def create_camera(conn: psycopg.Connection, body: CameraCreate) -> CameraPublic:
    _check_refs(conn, body.device_id, body.district)
    inserted = conn.execute(
        "INSERT INTO cameras (camera_id, device_id, name, lon, lat, district) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        (body.camera_id, body.device_id, body.name, body.lon, body.lat, body.district),
    ).fetchone()
    if inserted is None:
        raise conflict(f"camera {body.camera_id!r} already exists; update it instead")
    return require_camera(conn, body.camera_id)


def update_camera(conn: psycopg.Connection, camera_id: str, body: CameraUpdate) -> CameraPublic:
    current = require_camera(conn, camera_id)
    changes = body.model_dump(exclude_unset=True)
    place = {"lon": changes.get("lon", current.lon), "lat": changes.get("lat", current.lat)}
    if (place["lon"] is None) != (place["lat"] is None):
        raise invalid("lon" if place["lon"] is None else "lat", "lon and lat go together: give both or neither")
    for name, bound in (("lon", 180), ("lat", 90)):
        value = place[name]
        if value is not None and not (math.isfinite(value) and -bound <= value <= bound):
            raise invalid(name, f"{name} {value} is out of range -{bound}..{bound}")
    _check_refs(conn, changes.get("device_id"), changes.get("district"))
    if changes:
        sets = ", ".join(f"{column} = %({column})s" for column in changes)
        conn.execute(
            f"UPDATE cameras SET {sets}, updated_at = now() WHERE camera_id = %(camera_id)s",
            {**changes, "camera_id": camera_id},
        )
    return require_camera(conn, camera_id)


def delete_camera(conn: psycopg.Connection, camera_id: str) -> CameraPublic:
    found = require_camera(conn, camera_id, lock=True)
    conn.execute("DELETE FROM cameras WHERE camera_id = %s", (camera_id,))
    return found
