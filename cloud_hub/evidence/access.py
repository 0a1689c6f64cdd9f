"""Who may view an event's evidence picture: by role, and for officers by their work orders and grids.

Evidence shows people's cars, shopfronts and streets, so it is not for every logged-in user:
- admin, commander: every picture (the command centre reviews and reassigns anything);
- officer: the pictures of an incident whose work order is assigned to them, or that lies in a grid they are on
  the roster of (their area, on duty now or not);
- technician: only `camera_fault` pictures (what a broken camera sees), which is what device maintenance needs.

An event belongs to an incident when it has the incident's device and situation key and falls inside the
incident's time span (a situation that ended and came back is another incident).
"""

from __future__ import annotations

from enum import StrEnum

import psycopg

from cloud_hub.auth.users import User

MAINTENANCE_KINDS = ("camera_fault",)


class Scope(StrEnum):
    ALL = "all"
    OWN_INCIDENTS = "own_incidents"  # work orders assigned to them, or incidents in their grids
    MAINTENANCE = "maintenance"  # camera faults only
    NONE = "none"


def scope_of(role: str) -> Scope:
    """The pictures a role may view (pure)."""
    return {
        "admin": Scope.ALL,
        "commander": Scope.ALL,
        "officer": Scope.OWN_INCIDENTS,
        "technician": Scope.MAINTENANCE,
    }.get(role, Scope.NONE)


_OFFICERS_INCIDENT = """
SELECT EXISTS (
    SELECT 1
    FROM events e
    JOIN incidents i ON i.device_id = e.device_id AND i.incident_key = e.incident_key
        AND e.ts >= i.first_seen AND e.ts <= greatest(i.last_seen, i.ended_at)  -- greatest skips NULL
    LEFT JOIN work_orders w ON w.incident_id = i.id
    WHERE e.event_id = %(event_id)s
      AND (w.assignee = %(user)s
           OR EXISTS (SELECT 1 FROM rosters r WHERE r.username = %(user)s AND r.grid_id = i.grid_id))
)
"""


def refusal(conn: psycopg.Connection, user: User, event_id: str) -> str | None:
    """None when `user` may view the evidence of `event_id`, else why not (for a 403)."""
    scope = scope_of(user.role)
    if scope is Scope.ALL:
        return None
    if scope is Scope.MAINTENANCE:
        row = conn.execute("SELECT kind FROM events WHERE event_id = %s LIMIT 1", (event_id,)).fetchone()
        if row is not None and row[0] in MAINTENANCE_KINDS:
            return None
        return f"technicians may view only the evidence of {', '.join(MAINTENANCE_KINDS)} events"
    if scope is Scope.OWN_INCIDENTS:
        row = conn.execute(_OFFICERS_INCIDENT, {"event_id": event_id, "user": user.username}).fetchone()
        if row is not None and row[0]:
            return None
        return "officers may view only the evidence of incidents assigned to them or in the grids of their roster"
    return f"role {user.role!r} may not view evidence"
