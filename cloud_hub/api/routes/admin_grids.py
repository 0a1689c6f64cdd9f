"""/api/v1/admin/grids: grid cells with their polygons, GeoJSON import and export (admins write; commanders read).

Every change is committed and the replica's grid index reloaded before the answer, so routing uses it at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cloud_hub.admin import grids as store
from cloud_hub.admin.audit import record_change
from cloud_hub.admin.geo import GEOJSON_MEDIA_TYPE, FeatureCollection, grids_collection
from cloud_hub.admin.grids import GridCreate, GridFilters, GridPublic, GridUpdate
from cloud_hub.api.deps import ConnDep
from cloud_hub.api.routes.admin_common import (
    CONFLICT,
    ERRORS,
    NOT_FOUND,
    Admin,
    Limit,
    Offset,
    Reader,
    routing_changed,
)
from cloud_hub.api.schemas import Page

router = APIRouter(prefix="/api/v1/admin/grids", tags=["admin-grids"], responses=ERRORS)


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON_MEDIA_TYPE


class GridImportResult(BaseModel):
    dry_run: bool = Field(description="true: validated only, nothing stored")
    created: list[str]
    updated: list[str]
    unchanged: list[str]


@router.get("", operation_id="list_grids")
def list_grids(
    conn: ConnDep,
    user: Reader,
    district_id: str | None = None,
    supervisor: str | None = None,
    q: Annotated[str | None, Query(description="part of the grid id or name")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[GridPublic]:
    data, count = store.list_grids(conn, GridFilters(district_id, supervisor, q, limit, offset))
    return Page[GridPublic](data=data, count=count)


@router.get("/export", operation_id="export_grids", response_class=GeoJSONResponse)
def export_grids(conn: ConnDep, user: Reader, district_id: str | None = None) -> FeatureCollection:
    """All grids (or a district's) as a GeoJSON FeatureCollection with properties grid_id, name, district_id,
    supervisor: the format `import_grids` takes."""
    return grids_collection(g.record() for g in store.all_grids(conn, district_id))


@router.post("/import", operation_id="import_grids")
def import_grids(
    body: FeatureCollection,
    request: Request,
    conn: ConnDep,
    user: Admin,
    dry_run: Annotated[bool, Query(description="validate only; store nothing")] = False,
) -> GridImportResult:
    """Create or update every grid of the collection, all or nothing: one bad feature and nothing is stored, with
    every bad feature listed in the problem's `errors` (loc ["body", "features", index, ...])."""
    plan = store.plan_import(conn, body)
    result = GridImportResult(dry_run=dry_run, created=plan.created, updated=plan.updated, unchanged=plan.unchanged)
    if dry_run:
        return result
    store.apply_import(conn, plan)
    for grid_id in (*plan.created, *plan.updated):
        before = plan.before.get(grid_id)
        after = store.require_grid(conn, grid_id)
        record_change(
            conn,
            user,
            "grid",
            grid_id,
            "import",
            before.model_dump(mode="json") if before else None,
            after.model_dump(mode="json"),
        )
    routing_changed(request, conn)
    return result


@router.get("/{grid_id}", operation_id="get_grid", responses=NOT_FOUND)
def get_grid(grid_id: str, conn: ConnDep, user: Reader) -> GridPublic:
    return store.require_grid(conn, grid_id)


@router.post("", operation_id="create_grid", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_grid(body: GridCreate, request: Request, conn: ConnDep, user: Admin) -> GridPublic:
    """A new grid; its polygon must be one routing can use (valid rings, no self-intersection, lon/lat)."""
    created = store.create_grid(conn, body)
    record_change(conn, user, "grid", created.grid_id, "create", after=created.model_dump(mode="json"))
    routing_changed(request, conn)
    return created


@router.patch("/{grid_id}", operation_id="update_grid", responses=NOT_FOUND)
def update_grid(grid_id: str, body: GridUpdate, request: Request, conn: ConnDep, user: Admin) -> GridPublic:
    before = store.require_grid(conn, grid_id, lock=True)
    after = store.update_grid(conn, grid_id, body)
    record_change(conn, user, "grid", grid_id, "update", before.model_dump(mode="json"), after.model_dump(mode="json"))
    routing_changed(request, conn)
    return after


@router.delete("/{grid_id}", operation_id="delete_grid", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_grid(grid_id: str, request: Request, conn: ConnDep, user: Admin) -> Response:
    """Delete the grid and its roster entries (both kept in the change record). Incidents and work orders keep
    their grid id as history."""
    gone, rosters = store.delete_grid(conn, grid_id)
    record_change(conn, user, "grid", grid_id, "delete", before={**gone.model_dump(mode="json"), "rosters": rosters})
    routing_changed(request, conn)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
