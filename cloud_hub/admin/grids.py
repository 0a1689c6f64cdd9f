"""Grids (table `grids`): polygon cells of the city, each with a district and a supervisor; import and export as
GeoJSON. Polygons are checked with the router's own rules (`Grid.from_geojson`) before they are stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from cloud_hub.admin.districts import ID_PATTERN, check_districts_exist
from cloud_hub.admin.errors import conflict, invalid, invalid_many, not_found
from cloud_hub.admin.geo import FeatureCollection, GridRecord, ImportProblem, checked_polygon, parse_grid_features
from cloud_hub.dispatch.routing import GridError

SUPERVISOR_ROLES: tuple[str, ...] = ("commander", "admin", "officer")  # those an escalation may go to

# Row lock for a change: the `before` of the change record is the row the change replaces.
LOCK = " FOR UPDATE"


class GridCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid_id: str = Field(pattern=ID_PATTERN, description="1-64 chars of [A-Za-z0-9_.-]")
    name: str = Field(min_length=1, max_length=200)
    district_id: str | None = None
    supervisor: str | None = Field(None, description="an active commander, admin or officer; escalations go there")
    polygon: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon in lon/lat (WGS 84)")


class GridUpdate(BaseModel):
    """Only the fields sent change; `district_id` or `supervisor` sent as null clear them."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    district_id: str | None = None
    supervisor: str | None = None
    polygon: dict[str, Any] | None = None


class GridPublic(BaseModel):
    grid_id: str
    name: str
    district_id: str | None
    supervisor: str | None
    polygon: dict[str, Any]
    updated_at: datetime

    def record(self) -> GridRecord:
        return GridRecord(self.grid_id, self.name, self.district_id, self.supervisor, self.polygon)


_COLUMNS = "grid_id, name, district_id, supervisor, polygon, updated_at"


@dataclass(frozen=True, slots=True)
class GridFilters:
    district_id: str | None = None
    supervisor: str | None = None
    q: str | None = None
    limit: int = 100
    offset: int = 0


def list_grids(conn: psycopg.Connection, f: GridFilters) -> tuple[list[GridPublic], int]:
    where = (
        "(%(district)s::text IS NULL OR district_id = %(district)s)"
        " AND (%(supervisor)s::text IS NULL OR supervisor = %(supervisor)s)"
        " AND (%(q)s::text IS NULL OR grid_id ILIKE %(q)s OR name ILIKE %(q)s)"
    )
    params = {
        "district": f.district_id,
        "supervisor": f.supervisor,
        "q": f"%{f.q}%" if f.q else None,
        "limit": f.limit,
        "offset": f.offset,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM grids WHERE {where} ORDER BY grid_id LIMIT %(limit)s OFFSET %(offset)s", params
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n FROM grids WHERE {where}", params).fetchone()
    return [GridPublic.model_validate(r) for r in rows], int(total["n"]) if total else 0


def all_grids(conn: psycopg.Connection, district_id: str | None = None) -> list[GridPublic]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM grids WHERE %(d)s::text IS NULL OR district_id = %(d)s ORDER BY grid_id",
            {"d": district_id},
        ).fetchall()
    return [GridPublic.model_validate(r) for r in rows]


def get_grid(conn: psycopg.Connection, grid_id: str, *, lock: bool = False) -> GridPublic | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM grids WHERE grid_id = %s" + (LOCK if lock else ""), (grid_id,)
        ).fetchone()
    return GridPublic.model_validate(row) if row else None


def require_grid(conn: psycopg.Connection, grid_id: str, *, lock: bool = False) -> GridPublic:
    found = get_grid(conn, grid_id, lock=lock)
    if found is None:
        raise not_found(f"grid {grid_id!r}")
    return found


def supervisor_problem(conn: psycopg.Connection, username: str) -> str | None:
    """Why `username` cannot supervise a grid, or None when they can."""
    row = conn.execute("SELECT role, active FROM users WHERE username = %s", (username,)).fetchone()
    if row is None:
        return f"supervisor {username!r} is not a user"
    if not row[1]:
        return f"supervisor {username!r} is disabled"
    if row[0] not in SUPERVISOR_ROLES:
        return f"supervisor {username!r} is a {row[0]}; must be one of: {', '.join(SUPERVISOR_ROLES)}"
    return None


def _check_refs(conn: psycopg.Connection, district_id: str | None, supervisor: str | None) -> None:
    if district_id is not None:
        check_districts_exist(conn, [district_id], "district_id")
    if supervisor is not None and (problem := supervisor_problem(conn, supervisor)):
        raise invalid("supervisor", problem)


def _polygon(grid_id: str, polygon: dict[str, Any]) -> dict[str, Any]:
    try:
        return checked_polygon(grid_id, polygon)
    except GridError as exc:
        raise invalid("polygon", str(exc)) from None


def _write(conn: psycopg.Connection, g: GridRecord, *, create: bool = False) -> None:
    """Upsert the grid; with `create`, 409 when it exists (two admins creating the same id: one wins, one is told)."""
    on_conflict = (
        "DO NOTHING"
        if create
        else "DO UPDATE SET name = EXCLUDED.name, district_id = EXCLUDED.district_id,"
        " supervisor = EXCLUDED.supervisor, polygon = EXCLUDED.polygon, updated_at = now()"
    )
    written = conn.execute(
        "INSERT INTO grids (grid_id, name, district_id, supervisor, polygon) VALUES (%s, %s, %s, %s, %s)"
        f" ON CONFLICT (grid_id) {on_conflict} RETURNING 1",
        (g.grid_id, g.name, g.district_id, g.supervisor, Jsonb(g.polygon)),
    ).fetchone()
    if written is None:
        raise conflict(f"grid {g.grid_id!r} already exists; update it instead")


def create_grid(conn: psycopg.Connection, body: GridCreate) -> GridPublic:
    polygon = _polygon(body.grid_id, body.polygon)
    _check_refs(conn, body.district_id, body.supervisor)
    _write(conn, GridRecord(body.grid_id, body.name, body.district_id, body.supervisor, polygon), create=True)
    return require_grid(conn, body.grid_id)


def update_grid(conn: psycopg.Connection, grid_id: str, body: GridUpdate) -> GridPublic:
    current = require_grid(conn, grid_id)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise invalid("name", "a grid needs a name; omit the field to keep the current one")
    if "polygon" in changes and changes["polygon"] is None:
        raise invalid("polygon", "a grid needs a polygon; omit the field to keep the current one")
    merged = current.record()
    new = GridRecord(
        grid_id,
        changes.get("name", merged.name),
        changes.get("district_id", merged.district_id),
        changes.get("supervisor", merged.supervisor),
        _polygon(grid_id, changes["polygon"]) if "polygon" in changes else merged.polygon,
    )
    _check_refs(
        conn,
        new.district_id if "district_id" in changes else None,
        new.supervisor if "supervisor" in changes else None,
    )
    _write(conn, new)
    return require_grid(conn, grid_id)


def delete_grid(conn: psycopg.Connection, grid_id: str) -> tuple[GridPublic, list[str]]:
    """Delete the grid; its roster entries go with it (returned, for the change record)."""
    found = require_grid(conn, grid_id, lock=True)
    rosters = [
        r[0] for r in conn.execute("SELECT roster_id FROM rosters WHERE grid_id = %s ORDER BY roster_id", (grid_id,))
    ]
    conn.execute("DELETE FROM grids WHERE grid_id = %s", (grid_id,))
    return found, rosters


@dataclass
class ImportPlan:
    """What an import does: grids created, updated and unchanged (ids), and the records to write."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    records: list[GridRecord] = field(default_factory=list)
    before: dict[str, GridPublic] = field(default_factory=dict)


def plan_import(conn: psycopg.Connection, collection: FeatureCollection) -> ImportPlan:
    """Validate every feature (geometry, properties, district, supervisor); 422 listing every bad feature."""
    records, problems = parse_grid_features(collection)
    index_of: dict[str, int] = {}
    for i, feature in enumerate(collection.features):
        grid_id = (feature.properties or {}).get("grid_id")
        if isinstance(grid_id, str):
            index_of.setdefault(grid_id, i)
    districts = sorted({r.district_id for r in records if r.district_id})
    known = {r[0] for r in conn.execute("SELECT district_id FROM districts WHERE district_id = ANY(%s)", (districts,))}
    checked: dict[str, str | None] = {}
    for r in records:
        i = index_of[r.grid_id]
        if r.district_id and r.district_id not in known:
            problems.append(
                ImportProblem(i, r.grid_id, ["properties", "district_id"], f"unknown district {r.district_id!r}")
            )
        if r.supervisor:
            if r.supervisor not in checked:
                checked[r.supervisor] = supervisor_problem(conn, r.supervisor)
            if checked[r.supervisor]:
                problems.append(ImportProblem(i, r.grid_id, ["properties", "supervisor"], str(checked[r.supervisor])))
    if problems:
        problems.sort(key=lambda p: p.index)
        bad = sorted({p.index for p in problems})
        raise invalid_many(
            [p.as_error() for p in problems],
            f"{len(bad)} of {len(collection.features)} features are invalid; nothing was imported. "
            f"First: {problems[0].as_error()['msg']}",
        )
    plan = ImportPlan(records=records)
    for r in records:
        current = get_grid(conn, r.grid_id, lock=True)
        if current is None:
            plan.created.append(r.grid_id)
        elif current.record() == r:
            plan.unchanged.append(r.grid_id)
        else:
            plan.updated.append(r.grid_id)
            plan.before[r.grid_id] = current
    return plan


def apply_import(conn: psycopg.Connection, plan: ImportPlan) -> None:
    unchanged = set(plan.unchanged)
    for r in plan.records:
        if r.grid_id not in unchanged:
            _write(conn, r)
