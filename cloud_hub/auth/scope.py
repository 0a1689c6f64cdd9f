"""What part of the city a user may see: the one rule behind every list, detail and live message.

- admin: everything.
- commander: the incidents and work orders of their districts (`user_districts`); none listed means the whole city
  (a city-level command centre). Devices everywhere.
- officer: the incidents and work orders in the grids on their roster or that they supervise, and every work order
  assigned to them wherever it lies (a reassignment across grids). No devices.
- technician: devices and camera faults (incidents of a maintenance kind), no other incidents or work orders.

`Scope` is pure and answers for one row (`sees_incident`, `sees_work_order`, `sees_device`) so the live channel can
filter messages in memory; `scope_sql` gives the same rule as a WHERE fragment for list queries. Both read the
same fields, and tests hold them to the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from cloud_hub.auth.users import User

MAINTENANCE_KINDS: tuple[str, ...] = ("camera_fault",)


@dataclass(frozen=True, slots=True)
class Scope:
    username: str
    role: str
    grids: frozenset[str] = frozenset()  # officer: roster and supervised grids
    districts: frozenset[str] | None = None  # commander: None means the whole city

    @property
    def city_wide(self) -> bool:
        return self.role == "admin" or (self.role == "commander" and self.districts is None)

    def _sees_place(self, grid_id: str | None, district: str | None, assignee: str | None) -> bool:
        if self.city_wide:
            return True
        if self.role == "commander":
            return district is not None and self.districts is not None and district in self.districts
        if self.role == "officer":
            return (grid_id is not None and grid_id in self.grids) or (
                assignee is not None and assignee == self.username
            )
        return False

    def sees_incident(self, row: Mapping[str, Any]) -> bool:
        """`row` has kind, grid_id, district and (optionally) the work order's assignee."""
        if self.role == "technician":
            return row.get("kind") in MAINTENANCE_KINDS
        return self._sees_place(row.get("grid_id"), row.get("district"), row.get("assignee"))

    def sees_work_order(self, row: Mapping[str, Any]) -> bool:
        if self.role == "technician":
            return False
        return self._sees_place(row.get("grid_id"), row.get("district"), row.get("assignee"))

    def sees_device(self, _row: Mapping[str, Any] | None = None) -> bool:
        return self.role in ("admin", "commander", "technician")


def scope_sql(scope: Scope, *, alias: str, assignee: str | None = None) -> tuple[str, dict[str, Any]]:
    """A WHERE fragment (and its parameters) selecting the rows of `alias` (a table with grid_id and district, and
    kind for incidents) that `scope` may see; `assignee` names the column of the assigned officer, if any."""
    if scope.city_wide:
        return "TRUE", {}
    if scope.role == "technician":
        return f"{alias}.kind = ANY(%(scope_kinds)s)", {"scope_kinds": list(MAINTENANCE_KINDS)}
    if scope.role == "commander":
        return f"{alias}.district = ANY(%(scope_districts)s)", {"scope_districts": sorted(scope.districts or ())}
    if scope.role == "officer":
        own = f" OR {assignee} = %(scope_user)s" if assignee else ""
        return f"({alias}.grid_id = ANY(%(scope_grids)s){own})", {
            "scope_grids": sorted(scope.grids),
            "scope_user": scope.username,
        }
    return "FALSE", {}


def load_scope(conn: psycopg.Connection, user: User) -> Scope:
    """The user's scope as the database says now (rosters, supervised grids, districts)."""
    if user.role == "admin":
        return Scope(user.username, user.role)
    grids = {
        row[0]
        for row in conn.execute(
            "SELECT grid_id FROM rosters WHERE username = %(u)s"
            " UNION SELECT grid_id FROM grids WHERE supervisor = %(u)s",
            {"u": user.username},
        ).fetchall()
    }
    districts = {
        row[0]
        for row in conn.execute(
            "SELECT district_id FROM user_districts WHERE username = %s", (user.username,)
        ).fetchall()
    }
    return Scope(
        user.username,
        user.role,
        grids=frozenset(grids),
        districts=frozenset(districts) if districts else None,
    )
