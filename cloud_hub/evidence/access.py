"""What of an event a user may see: its evidence picture (by `cloud_hub.auth.scope`) and its licence-plate text.

Evidence shows people's cars, shopfronts and streets, so it is not for every logged-in user:
- admin, city-wide commander: every picture (the command centre reviews and reassigns anything);
- commander with districts: the pictures of their districts (the event's incident, else the event's place);
- officer: the pictures of an incident whose work order is assigned to them, or that lies in a grid of their
  roster or that they supervise (their area, on duty now or not);
- technician: only `camera_fault` pictures (what a broken camera sees), which is what device maintenance needs.
The event side of the rule (which incident an event belongs to) is `cloud_hub.store.events.visible_events_sql`.

Plate text (a parking event's `plate`, or `plates`) identifies a person's car: only admins and commanders, who
review and reassign cases, get it; everything answered to officers and technicians has it removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

from cloud_hub.auth.scope import MAINTENANCE_KINDS, Scope
from cloud_hub.store.events import event_visible

PLATE_KEYS = frozenset({"plate", "plates"})
# Officers act on parking cases in their own grids and need the plate; technicians maintain cameras and never do.
PLATE_ROLES = frozenset({"admin", "commander", "officer"})


def sees_plates(role: str) -> bool:
    return role in PLATE_ROLES


def redact_plates(value: Any) -> Any:
    """A copy of `value` without any `plate`/`plates` key in any mapping, at any depth (lists included). Pure."""
    if isinstance(value, Mapping):
        return {k: redact_plates(v) for k, v in value.items() if k not in PLATE_KEYS}
    if isinstance(value, list | tuple):
        return [redact_plates(v) for v in value]
    return value


def for_role(role: str, value: Any) -> Any:
    """`value` as `role` may see it: unchanged for admins, commanders and officers (whose reads are already limited to
    their grids), without plate text for technicians and anyone else."""
    return value if sees_plates(role) else redact_plates(value)


def _why_not(scope: Scope) -> str:
    if scope.role == "technician":
        return f"technicians may view only the evidence of {', '.join(MAINTENANCE_KINDS)} events"
    if scope.role == "officer":
        return "officers may view only the evidence of incidents assigned to them or in the grids of their roster"
    if scope.role == "commander":
        return f"commanders may view only the evidence of their districts ({', '.join(sorted(scope.districts or ()))})"
    return f"role {scope.role!r} may not view evidence"


def refusal(conn: psycopg.Connection, scope: Scope, event_id: str) -> str | None:
    """None when `scope` may view the evidence of `event_id`, else why not (for a 403)."""
    if scope.city_wide or event_visible(conn, scope, event_id):
        return None
    return _why_not(scope)
