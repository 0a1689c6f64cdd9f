"""/api/v1/admin/rosters: who is on duty in which grid and when (admins write; commanders read), and the on-duty
answer routing gives. Changes are committed and the replica's grid index reloaded before the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from cloud_hub.admin import rosters as store
from cloud_hub.admin.audit import record_change
from cloud_hub.admin.errors import invalid
from cloud_hub.admin.grids import require_grid
from cloud_hub.admin.rosters import OnDuty, RosterCreate, RosterFilters, RosterPublic, RosterUpdate
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

router = APIRouter(prefix="/api/v1/admin/rosters", tags=["admin-rosters"], responses=ERRORS)


@router.get("", operation_id="list_rosters")
def list_rosters(
    conn: ConnDep,
    user: Reader,
    grid_id: str | None = None,
    username: str | None = None,
    district_id: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[RosterPublic]:
    """Roster entries by grid, then routing order (priority, username)."""
    data, count = store.list_rosters(conn, RosterFilters(grid_id, username, district_id, limit, offset))
    return Page[RosterPublic](data=data, count=count)


@router.get("/on-duty", operation_id="get_on_duty", responses=NOT_FOUND)
def get_on_duty(
    conn: ConnDep,
    user: Reader,
    grid_id: str,
    at: Annotated[datetime | None, Query(description="RFC 3339 with offset; default now")] = None,
) -> OnDuty:
    """Who routing dispatches to in the grid at `at` (the router's rule: active entries on duty, lowest priority
    value, then username) and every entry on duty then."""
    if at is not None and at.tzinfo is None:
        raise invalid("at", "at needs a time zone, e.g. 2026-11-22T18:00:00+08:00", where="query")
    when = at or datetime.now(UTC)
    grid = require_grid(conn, grid_id)
    officer, present = store.on_duty(store.grid_roster(conn, grid_id), grid_id, when)
    return OnDuty(grid_id=grid_id, at=when, officer=officer, supervisor=grid.supervisor, on_duty=present)


@router.post("", operation_id="create_roster", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_roster(body: RosterCreate, request: Request, conn: ConnDep, user: Admin) -> RosterPublic:
    created = store.create_roster(conn, body)
    record_change(conn, user, "roster", created.roster_id, "create", after=created.model_dump(mode="json"))
    routing_changed(request, conn)
    return created


@router.get("/{roster_id:path}", operation_id="get_roster", responses=NOT_FOUND)
def get_roster(roster_id: str, conn: ConnDep, user: Reader) -> RosterPublic:
    return store.require_roster(conn, roster_id)


@router.patch("/{roster_id:path}", operation_id="update_roster", responses=NOT_FOUND)
def update_roster(roster_id: str, body: RosterUpdate, request: Request, conn: ConnDep, user: Admin) -> RosterPublic:
    before = store.require_roster(conn, roster_id, lock=True)
    after = store.update_roster(conn, roster_id, body)
    record_change(
        conn, user, "roster", roster_id, "update", before.model_dump(mode="json"), after.model_dump(mode="json")
    )
    routing_changed(request, conn)
    return after


@router.delete(
    "/{roster_id:path}", operation_id="delete_roster", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
def delete_roster(roster_id: str, request: Request, conn: ConnDep, user: Admin) -> Response:
    gone = store.delete_roster(conn, roster_id)
    record_change(conn, user, "roster", roster_id, "delete", before=gone.model_dump(mode="json"))
    routing_changed(request, conn)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
