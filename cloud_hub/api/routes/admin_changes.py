"""GET /api/v1/admin/changes: the append-only record of every admin change (who, what, before and after)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from cloud_hub.admin.audit import AdminChange, ChangeFilters, Entity, list_changes
from cloud_hub.admin.errors import invalid
from cloud_hub.api.deps import ConnDep
from cloud_hub.api.routes.admin_common import ERRORS, Admin, Limit, Offset
from cloud_hub.api.schemas import Page

router = APIRouter(prefix="/api/v1/admin/changes", tags=["admin-changes"], responses=ERRORS)


@router.get("", operation_id="list_admin_changes")
def list_admin_changes(
    conn: ConnDep,
    user: Admin,
    entity: Entity | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    since: Annotated[datetime | None, Query(description="at or after (RFC 3339)")] = None,
    until: Annotated[datetime | None, Query(description="before (RFC 3339)")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AdminChange]:
    """Newest first."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise invalid(name, f"{name} needs a time zone, e.g. 2026-11-22T18:00:00Z", where="query")
    data, count = list_changes(conn, ChangeFilters(entity, entity_id, actor, since, until, limit, offset))
    return Page[AdminChange](data=data, count=count)
