"""GET /api/v1/events: the stored events a user may see (`cloud_hub.auth.scope`), newest first, filtered by device,
kind, camera, incident key and time; plate text only for admins and commanders (`cloud_hub.evidence.access`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from cloud_hub.api.deps import ConnDep, CurrentUser, Offset
from cloud_hub.api.schemas import Page
from cloud_hub.auth.scope import load_scope
from cloud_hub.evidence.access import for_role
from cloud_hub.store.events import MAX_LIMIT, EventFilters, list_events

router = APIRouter(prefix="/api/v1", tags=["events"])


class EventPublic(BaseModel):
    device_id: str
    event_id: str
    seq: int
    ts: datetime
    received_at: datetime
    kind: str
    subtype: str | None
    phase: str
    incident_key: str
    camera_id: str | None
    zone_id: str | None
    confidence: float | None
    lon: float | None
    lat: float | None
    payload: dict[str, Any]  # the event as the device sent it (bbox, measurements, model, rule, ...); plate text
    # (`plate`, `plates`) only for admins and commanders
    evidence_url: str | None  # relative URL of the picture, when it has been uploaded


@router.get("/events", operation_id="list_events")
def list_events_route(
    conn: ConnDep,
    user: CurrentUser,
    device_id: str | None = None,
    kind: str | None = None,
    camera_id: str | None = None,
    incident_key: str | None = None,
    since: Annotated[datetime | None, Query(description="events with ts at or after (RFC 3339)")] = None,
    until: Annotated[datetime | None, Query(description="events with ts before (RFC 3339)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Offset = 0,
) -> Page[EventPublic]:
    """Admins and city-wide commanders: every event; commanders with districts: their districts' (by incident or
    by the source's place); officers: the events of incidents they may see; technicians: camera faults."""
    try:
        filters = EventFilters(device_id, kind, camera_id, incident_key, since, until, limit, offset)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    rows, count = list_events(conn, filters, load_scope(conn, user))
    data = [
        EventPublic(
            **{k: v for k, v in row.items() if k not in ("has_evidence", "payload")},
            payload=for_role(user.role, row["payload"]),
            evidence_url=f"/api/v1/evidence/{row['event_id']}" if row["has_evidence"] else None,
        )
        for row in rows
    ]
    return Page[EventPublic](data=data, count=count)
