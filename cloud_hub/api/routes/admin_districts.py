"""/api/v1/admin/districts: the city's districts (admins write; commanders read)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from cloud_hub.admin import districts as store
from cloud_hub.admin.audit import record_change
from cloud_hub.admin.districts import DistrictCreate, DistrictPublic, DistrictUpdate
from cloud_hub.api.deps import ConnDep
from cloud_hub.api.routes.admin_common import CONFLICT, ERRORS, NOT_FOUND, Admin, Limit, Offset, Reader
from cloud_hub.api.schemas import Page

router = APIRouter(prefix="/api/v1/admin/districts", tags=["admin-districts"], responses=ERRORS)


@router.get("", operation_id="list_districts")
def list_districts(
    conn: ConnDep, user: Reader, q: str | None = None, limit: Limit = 100, offset: Offset = 0
) -> Page[DistrictPublic]:
    """Districts by id; `q` matches id, name or city."""
    data, count = store.list_districts(conn, q=q, limit=limit, offset=offset)
    return Page[DistrictPublic](data=data, count=count)


@router.get("/{district_id}", operation_id="get_district", responses=NOT_FOUND)
def get_district(district_id: str, conn: ConnDep, user: Reader) -> DistrictPublic:
    return store.require_district(conn, district_id)


@router.post("", operation_id="create_district", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_district(body: DistrictCreate, conn: ConnDep, user: Admin) -> DistrictPublic:
    created = store.create_district(conn, body)
    record_change(conn, user, "district", created.district_id, "create", after=created.model_dump(mode="json"))
    return created


@router.patch("/{district_id}", operation_id="update_district", responses=NOT_FOUND)
def update_district(district_id: str, body: DistrictUpdate, conn: ConnDep, user: Admin) -> DistrictPublic:
    """Change name or city (the id is permanent: grids, cameras and incidents refer to it)."""
    before = store.require_district(conn, district_id, lock=True)
    after = store.update_district(conn, district_id, body)
    record_change(
        conn, user, "district", district_id, "update", before.model_dump(mode="json"), after.model_dump(mode="json")
    )
    return after


@router.delete(
    "/{district_id}",
    operation_id="delete_district",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, **CONFLICT},
)
def delete_district(district_id: str, conn: ConnDep, user: Admin) -> Response:
    """Refused (409) while grids or cameras are in the district."""
    gone = store.delete_district(conn, district_id)
    record_change(conn, user, "district", district_id, "delete", before=gone.model_dump(mode="json"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
