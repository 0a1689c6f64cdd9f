"""/api/v1/admin/cameras: cameras and their places. Technicians install cameras, so they create and update them
too; deleting is the administrator's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from cloud_hub.admin import cameras as store
from cloud_hub.admin.audit import record_change
from cloud_hub.admin.cameras import CameraCreate, CameraFilters, CameraPublic, CameraUpdate
from cloud_hub.api.deps import ConnDep, require_roles
from cloud_hub.api.routes.admin_common import CONFLICT, ERRORS, NOT_FOUND, Admin, Limit, Offset
from cloud_hub.api.schemas import Page
from cloud_hub.auth.users import User

router = APIRouter(prefix="/api/v1/admin/cameras", tags=["admin-cameras"], responses=ERRORS)

Installer = Annotated[User, Depends(require_roles("admin", "technician"))]
CameraReader = Annotated[User, Depends(require_roles("admin", "commander", "technician"))]


def _with_grid(request: Request, camera: CameraPublic) -> CameraPublic:
    """The grid routing puts the camera's place in, from this replica's grid index."""
    directory = getattr(request.app.state, "grids", None)
    if directory is None or camera.lon is None or camera.lat is None:
        return camera
    grid = directory.index.grid_for(camera.lon, camera.lat)
    return camera.model_copy(update={"grid_id": grid.grid_id if grid else None})


@router.get("", operation_id="list_cameras")
def list_cameras(
    request: Request,
    conn: ConnDep,
    user: CameraReader,
    district: str | None = None,
    device_id: str | None = None,
    q: str | None = None,
    placed: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[CameraPublic]:
    """Cameras by id; `placed` filters on having lon/lat, `q` matches id or name."""
    data, count = store.list_cameras(conn, CameraFilters(district, device_id, q, placed, limit, offset))
    return Page[CameraPublic](data=[_with_grid(request, c) for c in data], count=count)


@router.get("/{camera_id}", operation_id="get_camera", responses=NOT_FOUND)
def get_camera(camera_id: str, request: Request, conn: ConnDep, user: CameraReader) -> CameraPublic:
    return _with_grid(request, store.require_camera(conn, camera_id))


@router.post("", operation_id="create_camera", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_camera(body: CameraCreate, request: Request, conn: ConnDep, user: Installer) -> CameraPublic:
    """device_id must be a provisioned device, district an existing one; lon and lat together or not at all."""
    created = store.create_camera(conn, body)
    record_change(conn, user, "camera", created.camera_id, "create", after=created.model_dump(mode="json"))
    return _with_grid(request, created)


@router.patch("/{camera_id}", operation_id="update_camera", responses=NOT_FOUND)
def update_camera(camera_id: str, body: CameraUpdate, request: Request, conn: ConnDep, user: Installer) -> CameraPublic:
    before = store.require_camera(conn, camera_id, lock=True)
    after = store.update_camera(conn, camera_id, body)
    record_change(
        conn, user, "camera", camera_id, "update", before.model_dump(mode="json"), after.model_dump(mode="json")
    )
    return _with_grid(request, after)


@router.delete(
    "/{camera_id}", operation_id="delete_camera", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
def delete_camera(camera_id: str, conn: ConnDep, user: Admin) -> Response:
    """Incidents and events keep the camera id as history."""
    gone = store.delete_camera(conn, camera_id)
    record_change(conn, user, "camera", camera_id, "delete", before=gone.model_dump(mode="json"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
