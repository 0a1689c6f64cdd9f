"""GET /api/v1/incidents (the command centre's filters), /incidents/{id} and /incidents/{id}/timeline (drill-down).

Every answer is limited to what the user may see (`cloud_hub.auth.scope`): admins all; commanders their districts
(or the whole city); officers the incidents of their grids and of orders assigned to them; technicians camera
faults. An incident outside that answers 404, as if it did not exist. Plate text only for admins and commanders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, HTTPException, Query, status

from cloud_hub.api.deps import ConnDep, CurrentUser, Offset
from cloud_hub.api.schemas import (
    IncidentPublic,
    IncidentTimeline,
    IncidentTimelineEvent,
    IncidentTimelineWorkOrder,
    IncidentWorkOrderSummary,
    Page,
    TransitionPublic,
)
from cloud_hub.auth.scope import load_scope
from cloud_hub.auth.users import User
from cloud_hub.evidence.access import for_role
from cloud_hub.incidents.store import IncidentFilters, IncidentQueryError, get_incident, list_incidents, parse_bbox
from cloud_hub.store.events import incident_events
from cloud_hub.workorders.store import list_transitions

router = APIRouter(prefix="/api/v1", tags=["incidents"])

IncidentStatus = Literal["open", "ended", "closed"]
Severity = Literal["red", "orange", "yellow", "blue"]
_WO = "wo_"


def _summary(row: dict[str, Any]) -> IncidentWorkOrderSummary | None:
    if row["wo_id"] is None:
        return None
    return IncidentWorkOrderSummary(
        id=row["wo_id"],
        status=row["wo_status"],
        assignee=row["wo_assignee"],
        due_at=row["wo_due_at"],
        overdue=bool(row["wo_overdue"]),
    )


def _public(row: dict[str, Any], user: User) -> IncidentPublic:
    fields = {k: v for k, v in row.items() if not k.startswith(_WO)}
    fields["measurements"] = for_role(user.role, fields["measurements"])
    return IncidentPublic(**fields, work_order=_summary(row))


def _unprocessable(exc: IncidentQueryError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


@router.get("/incidents", operation_id="list_incidents")
def list_incidents_route(
    conn: ConnDep,
    user: CurrentUser,
    status_: Annotated[list[IncidentStatus] | None, Query(alias="status", description="repeatable")] = None,
    kind: Annotated[list[str] | None, Query(description="repeatable")] = None,
    severity: Annotated[list[Severity] | None, Query(description="repeatable")] = None,
    grid_id: str | None = None,
    district: str | None = None,
    camera_id: str | None = None,
    device_id: str | None = None,
    since: Annotated[datetime | None, Query(description="last seen at or after (RFC 3339, with time zone)")] = None,
    until: Annotated[datetime | None, Query(description="last seen before (RFC 3339, with time zone)")] = None,
    overdue: Annotated[
        bool | None, Query(description="true: with an open work order past its deadline; false: without")
    ] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north in degrees (WGS 84)")] = None,
    sort: Annotated[
        Literal["last_seen", "severity", "first_seen"],
        Query(description="last_seen (newest first), severity (red first, then newest), first_seen (newest first)"),
    ] = "last_seen",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[IncidentPublic]:
    """The incidents the user may see, each with its work order's summary."""
    try:
        filters = IncidentFilters(
            status=tuple(status_ or ()),
            kind=tuple(kind or ()),
            severity=tuple(severity or ()),
            grid_id=grid_id,
            district=district,
            camera_id=camera_id,
            device_id=device_id,
            since=since,
            until=until,
            overdue=overdue,
            bbox=parse_bbox(bbox) if bbox is not None else None,
            sort=sort,
            limit=limit,
            offset=offset,
        )
    except IncidentQueryError as exc:
        raise _unprocessable(exc) from None
    rows, count = list_incidents(conn, filters, load_scope(conn, user))
    return Page[IncidentPublic](data=[_public(r, user) for r in rows], count=count)


def _visible_incident(conn: psycopg.Connection, user: User, incident_id: int) -> dict[str, Any]:
    row = get_incident(conn, incident_id, load_scope(conn, user))
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"incident {incident_id} not found")
    return row


@router.get("/incidents/{incident_id}", operation_id="get_incident")
def get_incident_route(incident_id: int, conn: ConnDep, user: CurrentUser) -> IncidentPublic:
    return _public(_visible_incident(conn, user, incident_id), user)


def _timeline_event(row: dict[str, Any], user: User) -> IncidentTimelineEvent:
    payload = for_role(user.role, row["payload"])
    return IncidentTimelineEvent(
        event_id=row["event_id"],
        device_id=row["device_id"],
        seq=row["seq"],
        ts=row["ts"],
        phase=row["phase"],
        camera_id=row["camera_id"],
        zone_id=row["zone_id"],
        confidence=row["confidence"],
        measurements=payload.get("measurements"),
        model=payload.get("model"),
        rule=payload.get("rule"),
        evidence_url=f"/api/v1/evidence/{row['event_id']}" if row["has_evidence"] else None,
    )


@router.get("/incidents/{incident_id}/timeline", operation_id="get_incident_timeline")
def get_incident_timeline_route(incident_id: int, conn: ConnDep, user: CurrentUser) -> IncidentTimeline:
    """The incident, its work order with every transition, and its newest events (at most 500) in time order;
    `truncated` says older ones were left out."""
    row = _visible_incident(conn, user, incident_id)
    summary = _summary(row)
    work_order = None
    if summary is not None:
        transitions = [TransitionPublic.model_validate(t) for t in list_transitions(conn, summary.id)]
        work_order = IncidentTimelineWorkOrder(**summary.model_dump(), transitions=transitions)
    events, truncated = incident_events(conn, incident_id)
    return IncidentTimeline(
        incident=_public(row, user),
        work_order=work_order,
        events=[_timeline_event(e, user) for e in events],
        truncated=truncated,
    )
