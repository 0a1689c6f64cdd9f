"""Reading stored events (the API's event list, an incident's timeline, evidence access), scoped by role.

An event belongs to an incident when it has the incident's device and situation key and falls inside the
incident's time span (a situation that ended and came back is another incident). Who sees an event follows
`cloud_hub.auth.scope`: admins and city-wide commanders all; officers the events of incidents they may see;
technicians camera-fault events; commanders with districts the events of their districts' incidents or of sources
placed in their districts (`event_places`, for events no incident took up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud_hub.auth.scope import Scope, scope_sql

MAX_LIMIT = 1000
TIMELINE_LIMIT = 500

_COLUMNS = (
    "e.device_id, e.event_id::text AS event_id, e.seq, e.ts, e.received_at, e.kind, e.subtype, e.phase,"
    " e.incident_key, e.camera_id, e.zone_id, e.confidence, e.lon, e.lat, e.payload,"
    " (v.event_id IS NOT NULL) AS has_evidence"
)
# The incident `i` an event `e` belongs to (greatest() skips a NULL ended_at).
_OF_INCIDENT = (
    "i.device_id = e.device_id AND i.incident_key = e.incident_key"
    " AND e.ts >= i.first_seen AND e.ts <= greatest(i.last_seen, i.ended_at)"
)


@dataclass(frozen=True, slots=True)
class EventFilters:
    device_id: str | None = None
    kind: str | None = None
    camera_id: str | None = None
    incident_key: str | None = None
    since: datetime | None = None  # ts >= since
    until: datetime | None = None  # ts < until
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_LIMIT}, got {self.limit}")
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0, got {self.offset}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone, e.g. 2026-11-22T18:00:00Z")


def visible_events_sql(scope: Scope) -> tuple[str, dict[str, Any]]:
    """A WHERE fragment over events `e` selecting those `scope` may see, and its parameters."""
    if scope.city_wide or scope.role == "technician":
        return scope_sql(scope, alias="e")  # TRUE, or the maintenance kinds (events carry their kind)
    incidents, params = scope_sql(scope, alias="i", assignee="w.assignee")
    clause = (
        "EXISTS (SELECT 1 FROM incidents i LEFT JOIN work_orders w ON w.incident_id = i.id"
        f" WHERE {_OF_INCIDENT} AND {incidents})"
    )
    if scope.role == "commander":
        places, place_params = scope_sql(scope, alias="p")
        clause = (
            f"({clause} OR EXISTS (SELECT 1 FROM event_places p WHERE p.device_id = e.device_id"
            f" AND p.camera_id = coalesce(e.camera_id, '') AND {places}))"
        )
        params = {**params, **place_params}
    return clause, params


def _where(f: EventFilters, scope: Scope) -> tuple[str, dict[str, Any]]:
    visible, params = visible_events_sql(scope)
    clauses = [visible]
    for column in ("device_id", "kind", "camera_id", "incident_key"):
        value = getattr(f, column)
        if value is not None:
            clauses.append(f"e.{column} = %({column})s")
            params[column] = value
    if f.since is not None:
        clauses.append("e.ts >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        clauses.append("e.ts < %(until)s")
        params["until"] = f.until
    return " AND ".join(clauses), params


def list_events(conn: psycopg.Connection, filters: EventFilters, scope: Scope) -> tuple[list[dict[str, Any]], int]:
    """The events `scope` may see, newest first, with whether evidence is stored for each; and the total count."""
    where, params = _where(filters, scope)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM events e LEFT JOIN evidence v ON v.event_id = e.event_id WHERE {where} "
            "ORDER BY e.ts DESC, e.device_id, e.seq DESC LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": filters.limit, "offset": filters.offset},
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n FROM events e WHERE {where}", params).fetchone()
    return rows, int(total["n"]) if total else 0


def event_visible(conn: psycopg.Connection, scope: Scope, event_id: str) -> bool:
    """Whether `scope` may see the event `event_id` (False when no such event is stored)."""
    visible, params = visible_events_sql(scope)
    row = conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM events e WHERE e.event_id = %(event_id)s AND {visible})",
        {**params, "event_id": event_id},
    ).fetchone()
    return bool(row and row[0])


def incident_events(
    conn: psycopg.Connection, incident_id: int, limit: int = TIMELINE_LIMIT
) -> tuple[list[dict[str, Any]], bool]:
    """The newest `limit` events of an incident in time order, and whether older ones were left out.

    An incident's events are its device's, so their order is the device's own `seq`: a box whose clock was
    stepped back (an NTP correction mid-stay) or runs hours off still shows them in the order they happened. The
    caller has checked that the incident is visible; its events are then too (the same rule)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM incidents i JOIN events e ON {_OF_INCIDENT}"
            " LEFT JOIN evidence v ON v.event_id = e.event_id WHERE i.id = %(id)s"
            " ORDER BY e.seq DESC LIMIT %(limit)s",
            {"id": incident_id, "limit": limit + 1},
        ).fetchall()
    truncated = len(rows) > limit
    return list(reversed(rows[:limit])), truncated
