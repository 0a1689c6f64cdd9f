"""Users for the administrator: list, create, update, reset password, disable (never delete: work orders and
audit trails name them). Password hashes never leave this module; `districts` are `user_districts`, `grids` are
read-only (the roster and supervised grids that give an officer their places)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from cloud_hub.admin.districts import check_districts_exist
from cloud_hub.admin.errors import conflict, invalid, not_found
from cloud_hub.admin.grids import SUPERVISOR_ROLES
from cloud_hub.admin.rosters import ROSTER_ROLES
from cloud_hub.auth.security import Role, hash_password
from cloud_hub.auth.users import User

MIN_PASSWORD = 10
MAX_PASSWORD = 256
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"

# Row lock for a change: the `before` of the change record is the row the change replaces.
LOCK = " FOR UPDATE OF u"


def password_problem(username: str, password: str) -> str | None:
    """Why `password` is refused for `username`, or None (pure)."""
    if len(password) < MIN_PASSWORD:
        return f"password must have at least {MIN_PASSWORD} characters (got {len(password)})"
    if len(password) > MAX_PASSWORD:
        return f"password must have at most {MAX_PASSWORD} characters"
    if password.strip().casefold() == username.casefold():
        return "password must not be the username"
    return None


class UserGrid(BaseModel):
    grid_id: str
    relation: Literal["roster", "supervisor"]


class AdminUser(BaseModel):
    username: str
    role: Role
    display_name: str | None
    active: bool
    districts: list[str] = Field(description="districts the user answers for (commanders, technicians)")
    grids: list[UserGrid] = Field(description="read-only: grids on the user's roster or supervised by them")
    created_at: datetime
    updated_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN, description="1-64 chars of [A-Za-z0-9_.@-]")
    password: str = Field(description=f"at least {MIN_PASSWORD} characters, not the username")
    role: Role
    display_name: str | None = Field(None, max_length=200)
    active: bool = True
    districts: list[str] = Field(default_factory=list)


class UserUpdate(BaseModel):
    """Only the fields sent change; `districts` replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    display_name: str | None = Field(None, max_length=200)
    active: bool | None = None
    districts: list[str] | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(description=f"at least {MIN_PASSWORD} characters, not the username")


_SELECT = """
SELECT u.username, u.role, u.display_name, u.active, u.created_at, u.updated_at,
    COALESCE((SELECT array_agg(d.district_id ORDER BY d.district_id) FROM user_districts d
              WHERE d.username = u.username), '{}') AS districts,
    COALESCE((SELECT jsonb_agg(jsonb_build_object('grid_id', x.grid_id, 'relation', x.relation)
                               ORDER BY x.grid_id, x.relation)
              FROM (SELECT DISTINCT r.grid_id, 'roster'::text AS relation FROM rosters r WHERE r.username = u.username
                    UNION ALL
                    SELECT g.grid_id, 'supervisor' FROM grids g WHERE g.supervisor = u.username) x), '[]') AS grids
FROM users u
"""


@dataclass(frozen=True, slots=True)
class UserFilters:
    roles: tuple[str, ...] | None = None  # None: every role
    role: str | None = None
    active: bool | None = None
    district_id: str | None = None
    q: str | None = None
    limit: int = 100
    offset: int = 0


_WHERE = """
    (%(roles)s::text[] IS NULL OR u.role = ANY(%(roles)s)) AND (%(role)s::text IS NULL OR u.role = %(role)s)
    AND (%(active)s::boolean IS NULL OR u.active = %(active)s)
    AND (%(q)s::text IS NULL OR u.username ILIKE %(q)s OR u.display_name ILIKE %(q)s)
    AND (%(district)s::text IS NULL
         OR EXISTS (SELECT 1 FROM user_districts d WHERE d.username = u.username AND d.district_id = %(district)s)
         OR EXISTS (SELECT 1 FROM rosters r JOIN grids g USING (grid_id)
                    WHERE r.username = u.username AND g.district_id = %(district)s)
         OR EXISTS (SELECT 1 FROM grids g WHERE g.supervisor = u.username AND g.district_id = %(district)s))
"""


def list_users(conn: psycopg.Connection, f: UserFilters) -> tuple[list[AdminUser], int]:
    """Users by username; `district_id` matches their districts and the districts of their grids."""
    params = {
        "roles": list(f.roles) if f.roles is not None else None,
        "role": f.role,
        "active": f.active,
        "q": f"%{f.q}%" if f.q else None,
        "district": f.district_id,
        "limit": f.limit,
        "offset": f.offset,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"{_SELECT} WHERE {_WHERE} ORDER BY u.username LIMIT %(limit)s OFFSET %(offset)s", params
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n FROM users u WHERE {_WHERE}", params).fetchone()
    return [AdminUser.model_validate(r) for r in rows], int(total["n"]) if total else 0


def get_user(conn: psycopg.Connection, username: str, *, lock: bool = False) -> AdminUser | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"{_SELECT} WHERE u.username = %s" + (LOCK if lock else ""), (username,)).fetchone()
    return AdminUser.model_validate(row) if row else None


def require_user(conn: psycopg.Connection, username: str, *, lock: bool = False) -> AdminUser:
    found = get_user(conn, username, lock=lock)
    if found is None:
        raise not_found(f"user {username!r}")
    return found


def _set_districts(conn: psycopg.Connection, username: str, districts: list[str]) -> None:
    wanted = sorted(set(districts))
    check_districts_exist(conn, wanted, "districts")
    conn.execute("DELETE FROM user_districts WHERE username = %s AND NOT district_id = ANY(%s)", (username, wanted))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO user_districts (username, district_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(username, d) for d in wanted],
        )


def create_user(conn: psycopg.Connection, body: UserCreate) -> AdminUser:
    if problem := password_problem(body.username, body.password):
        raise invalid("password", problem)
    check_districts_exist(conn, sorted(set(body.districts)), "districts")
    inserted = conn.execute(
        "INSERT INTO users (username, password_hash, role, display_name, active) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        (body.username, hash_password(body.password), body.role, body.display_name, body.active),
    ).fetchone()
    if inserted is None:
        raise conflict(f"user {body.username!r} already exists (disabled users keep their name); pick another name")
    _set_districts(conn, body.username, body.districts)
    return require_user(conn, body.username)


def _grids_of(user: AdminUser, relation: str) -> list[str]:
    return sorted({g.grid_id for g in user.grids if g.relation == relation})


def update_user(conn: psycopg.Connection, actor: User, username: str, body: UserUpdate) -> AdminUser:
    """Refused (409) when an admin would disable or demote themselves, or when the change would leave the user's
    roster or supervised grids with someone routing cannot give work to."""
    current = require_user(conn, username)
    changes = body.model_dump(exclude_unset=True)
    for name in ("role", "active"):
        if name in changes and changes[name] is None:
            raise invalid(name, f"{name} cannot be null; omit the field to keep the current value")
    role, active = changes.get("role", current.role), changes.get("active", current.active)
    if username == actor.username and (role != current.role or not active):
        raise conflict("administrators cannot demote or disable themselves; ask another administrator")
    rostered, supervised = _grids_of(current, "roster"), _grids_of(current, "supervisor")
    if rostered and role not in ROSTER_ROLES:
        raise conflict(
            f"{username} is on the roster of grids {', '.join(rostered)}; remove those roster entries before "
            f"making them a {role}"
        )
    if supervised and (role not in SUPERVISOR_ROLES or not active):
        what = "disabling them" if not active else f"making them a {role}"
        raise conflict(f"{username} supervises grids {', '.join(supervised)}; give those grids another supervisor "
                       f"before {what}")  # fmt: skip
    columns = {k: v for k, v in changes.items() if k in ("role", "display_name", "active")}
    if columns:
        sets = ", ".join(f"{column} = %({column})s" for column in columns)
        conn.execute(
            f"UPDATE users SET {sets}, updated_at = now() WHERE username = %(username)s",
            {**columns, "username": username},
        )
    if "districts" in changes:
        _set_districts(conn, username, changes["districts"] or [])
    return require_user(conn, username)


def reset_password(conn: psycopg.Connection, username: str, password: str) -> AdminUser:
    require_user(conn, username)
    if problem := password_problem(username, password):
        raise invalid("password", problem)
    conn.execute(
        "UPDATE users SET password_hash = %s, updated_at = now() WHERE username = %s",
        (hash_password(password), username),
    )
    return require_user(conn, username)
