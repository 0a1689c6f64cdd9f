"""GET /api/v1/cameras/map: every camera with its place, device, the device's status and whether it has an open
camera fault; what the command centre's map and the technician's fleet view colour by health.

Cameras are devices' eyes, so the map follows the device rule of `cloud_hub.auth.scope` (`sees_device`): admins,
commanders and technicians, city-wide; officers work from their orders and get 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from cloud_hub.api.deps import ConnDep, CurrentUser, Offset
from cloud_hub.api.schemas import Page
from cloud_hub.auth.scope import load_scope
from cloud_hub.devices.status import DeviceStatus, device_status
from cloud_hub.store.camera_map import MAX_CAMERAS, CameraMapFilters, list_camera_map

router = APIRouter(prefix="/api/v1", tags=["cameras"])


class CameraMapItem(BaseModel):
    camera_id: str
    name: str | None
    lon: float | None
    lat: float | None
    district: str | None
    grid_id: str | None = Field(description="the grid the hub placed the camera in; null until placed")
    device_id: str | None
    device_status: DeviceStatus | None = Field(description="null when the camera has no registered device")
    device_last_seen: datetime | None
    open_fault: bool = Field(description="an open camera_fault incident exists for this camera")
    fault_incident_id: int | None = Field(description="the newest open camera_fault incident")
    fault_severity: str | None


def _item(row: dict[str, Any], now: datetime) -> CameraMapItem:
    status_ = device_status(bool(row["online"]), row["last_seen"], row["health"], now) if row["registered"] else None
    return CameraMapItem(
        camera_id=row["camera_id"],
        name=row["name"],
        lon=row["lon"],
        lat=row["lat"],
        district=row["district"],
        grid_id=row["grid_id"],
        device_id=row["device_id"],
        device_status=status_,
        device_last_seen=row["last_seen"],
        open_fault=row["fault_incident_id"] is not None,
        fault_incident_id=row["fault_incident_id"],
        fault_severity=row["fault_severity"],
    )


@router.get("/cameras/map", operation_id="list_camera_map")
def list_camera_map_route(
    conn: ConnDep,
    user: CurrentUser,
    district: str | None = None,
    device_id: str | None = None,
    fault: Annotated[bool | None, Query(description="true: only cameras with an open fault; false: without")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CAMERAS)] = 5000,
    offset: Offset = 0,
) -> Page[CameraMapItem]:
    """Cameras by id, with their device's status (online, stale, offline, never_seen) and open faults."""
    if not load_scope(conn, user).sees_device():
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role!r} may not see cameras and devices")
    rows, count = list_camera_map(conn, CameraMapFilters(district, device_id, fault, limit, offset))
    now = datetime.now(UTC)
    return Page[CameraMapItem](data=[_item(r, now) for r in rows], count=count)
