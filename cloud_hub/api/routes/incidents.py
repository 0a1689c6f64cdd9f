"""GET /api/v1/incidents (filters status, kind, severity, since) and GET /api/v1/incidents/{id}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status

from cloud_hub.api.deps import ConnDep, require_roles
from cloud_hub.api.schemas import IncidentPublic, Page
from cloud_hub.incidents.store import IncidentFilters, get_incident, list_incidents

router = APIRouter(
    prefix="/api/v1",
    tags=["incidents"],
    # Officers work from their work orders; the incident overview is the command centre's and technicians'.
    dependencies=[Depends(require_roles("admin", "commander", "technician"))],
)


@router.get("/incidents", operation_id="list_incidents")
def list_incidents_route(
    conn: ConnDep,
    status_: Annotated[Literal["open", "ended", "closed"] | None, Query(alias="status")] = None,
    kind: str | None = None,
    severity: Literal["red", "orange", "yellow", "blue"] | None = None,
    since: Annotated[datetime | None, Query(description="only incidents last seen at or after (RFC 3339)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[IncidentPublic]:
    """Incidents, most recently seen first."""
    if since is not None and since.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "since needs a time zone, e.g. 2026-11-22T18:00:00Z")
    rows, count = list_incidents(
        conn, IncidentFilters(status=status_, kind=kind, severity=severity, since=since, limit=limit, offset=offset)
    )
    return Page[IncidentPublic](data=[IncidentPublic.model_validate(r) for r in rows], count=count)


@router.get("/incidents/{incident_id}", operation_id="get_incident")
def get_incident_route(incident_id: int, conn: ConnDep) -> IncidentPublic:
    row = get_incident(conn, incident_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} not found")
    return IncidentPublic.model_validate(row)
