"""Districts (table `districts`): the city's administrative areas that grids, cameras and commanders belong to."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from cloud_hub.admin.errors import conflict, invalid, not_found

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

# Row lock for a change: the `before` of the change record is the row the change replaces.
LOCK = " FOR UPDATE OF d"


class DistrictCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    district_id: str = Field(pattern=ID_PATTERN, description="1-64 chars of [A-Za-z0-9_.-], e.g. nj-gulou")
    name: str = Field(min_length=1, max_length=200)
    city: str | None = Field(None, max_length=200)


class DistrictUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    city: str | None = Field(None, max_length=200)


class DistrictPublic(BaseModel):
    district_id: str
    name: str
    city: str | None
    grid_count: int = Field(description="grids in this district")


_SELECT = (
    "SELECT d.district_id, d.name, d.city, (SELECT count(*) FROM grids g WHERE g.district_id = d.district_id)"
    " AS grid_count FROM districts d"
)


def list_districts(
    conn: psycopg.Connection, *, q: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[DistrictPublic], int]:
    where = "(%(q)s::text IS NULL OR d.district_id ILIKE %(q)s OR d.name ILIKE %(q)s OR d.city ILIKE %(q)s)"
    params = {"q": f"%{q}%" if q else None, "limit": limit, "offset": offset}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"{_SELECT} WHERE {where} ORDER BY d.district_id LIMIT %(limit)s OFFSET %(offset)s", params)
        data = [DistrictPublic.model_validate(r) for r in rows.fetchall()]
        total = cur.execute(f"SELECT count(*) AS n FROM districts d WHERE {where}", params).fetchone()
    return data, int(total["n"]) if total else 0


def get_district(conn: psycopg.Connection, district_id: str, *, lock: bool = False) -> DistrictPublic | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"{_SELECT} WHERE d.district_id = %s" + (LOCK if lock else ""), (district_id,)).fetchone()
    return DistrictPublic.model_validate(row) if row else None


def require_district(conn: psycopg.Connection, district_id: str, *, lock: bool = False) -> DistrictPublic:
    found = get_district(conn, district_id, lock=lock)
    if found is None:
        raise not_found(f"district {district_id!r}")
    return found


def check_districts_exist(conn: psycopg.Connection, district_ids: list[str], field: str | list[str | int]) -> None:
    """422 naming `field` and the unknown ids, so a typo is caught before anything references it."""
    if not district_ids:
        return
    known = {
        r[0] for r in conn.execute("SELECT district_id FROM districts WHERE district_id = ANY(%s)", (district_ids,))
    }
    missing = sorted(set(district_ids) - known)
    if missing:
        raise invalid(field, f"unknown district {', '.join(repr(m) for m in missing)}; create it first")


def create_district(conn: psycopg.Connection, body: DistrictCreate) -> DistrictPublic:
    inserted = conn.execute(
        "INSERT INTO districts (district_id, name, city) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (body.district_id, body.name, body.city),
    ).fetchone()
    if inserted is None:
        raise conflict(f"district {body.district_id!r} already exists; update it instead")
    return require_district(conn, body.district_id)


def update_district(conn: psycopg.Connection, district_id: str, body: DistrictUpdate) -> DistrictPublic:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        raise invalid("name", "a district needs a name; omit the field to keep the current one")
    require_district(conn, district_id)
    if changes:
        sets = ", ".join(f"{column} = %({column})s" for column in changes)
        conn.execute(
            f"UPDATE districts SET {sets} WHERE district_id = %(district_id)s", {**changes, "district_id": district_id}
        )
    return require_district(conn, district_id)


def delete_district(conn: psycopg.Connection, district_id: str) -> DistrictPublic:
    """Refused (409) while grids or cameras are in it, or users answer for it: a commander whose last district
    went would silently become city-wide (no district listed means the whole city)."""
    found = require_district(conn, district_id, lock=True)  # also holds off a grid or user added meanwhile
    users_of = {
        "grids": "SELECT grid_id FROM grids WHERE district_id = %s ORDER BY 1 LIMIT 6",
        "cameras": "SELECT camera_id FROM cameras WHERE district = %s ORDER BY 1 LIMIT 6",
        "users": "SELECT username FROM user_districts WHERE district_id = %s ORDER BY 1 LIMIT 6",
    }
    found_ids = {what: [r[0] for r in conn.execute(query, (district_id,))] for what, query in users_of.items()}
    parts = [f"{what} {_few(ids)}" for what, ids in found_ids.items() if ids]
    if parts:
        raise conflict(f"district {district_id!r} is still used by {' and '.join(parts)}; move or delete them first")
    conn.execute("DELETE FROM districts WHERE district_id = %s", (district_id,))
    return found


def _few(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")


def district_names(conn: psycopg.Connection, district_id: str | None = None) -> list[tuple[str, str]]:
    """(district_id, name) of every district (or the one asked for), by id."""
    return [
        (row[0], row[1])
        for row in conn.execute(
            "SELECT district_id, name FROM districts WHERE %(d)s::text IS NULL OR district_id = %(d)s"
            " ORDER BY district_id",
            {"d": district_id},
        )
    ]
