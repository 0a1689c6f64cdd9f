"""Duty rosters (table `rosters`): who is on duty in which grid, on which weekdays and in which local-time window.

The rules are the router's (`RosterEntry.on_duty`, `GridIndex.officer_on_duty`): weekdays 1=Mon..7=Sun or every day,
all day or a window that may cross midnight (its weekday is the day the shift starts), lowest priority value first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cloud_hub.admin.errors import conflict, invalid, invalid_many, not_found
from cloud_hub.admin.grids import get_grid
from cloud_hub.dispatch.routing import GridIndex, RosterEntry

ROSTER_ROLES: tuple[str, ...] = ("officer",)  # work is dispatched to officers on duty
_WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}

# Row lock for a change: the `before` of the change record is the row the change replaces.
LOCK = " FOR UPDATE OF r"


class RosterFields(BaseModel):
    """The duty rule itself; every create and every merged update is checked by this model."""

    model_config = ConfigDict(extra="forbid")

    grid_id: str = Field(min_length=1, max_length=64)
    username: str = Field(min_length=1, max_length=64)
    weekdays: list[int] | None = Field(None, description="ISO weekdays 1=Mon..7=Sun (or mon..sun); null = every day")
    start_time: time | None = Field(None, description="local start, HH:MM; null with end_time = all day")
    end_time: time | None = Field(None, description="local end, HH:MM; before start_time = crosses midnight")
    timezone: str = Field("Asia/Shanghai", description="IANA time zone of the window")
    priority: int = Field(100, ge=0, le=1_000_000, description="lower goes first when several are on duty")

    @field_validator("weekdays", mode="before")
    @classmethod
    def _weekday_names(cls, value: object) -> object:
        if isinstance(value, list):
            return [_WEEKDAYS.get(v.lower(), v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekday_range(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError("weekdays must be a non-empty list of 1..7 (1=Mon, 7=Sun) or mon..sun; null = every day")
        return sorted(set(value))

    @field_validator("start_time", "end_time")
    @classmethod
    def _local(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("give a local time without offset (HH:MM); the timezone field says where")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    @model_validator(mode="after")
    def _window(self) -> RosterFields:
        if (self.start_time is None) != (self.end_time is None):
            raise ValueError("start_time and end_time go together: give both (a window) or neither (all day)")
        if self.start_time is not None and self.start_time == self.end_time:
            raise ValueError("start_time equals end_time; leave both out for an all-day shift")
        return self


class RosterCreate(RosterFields):
    roster_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.:/-]{1,128}$", description="chosen by the hub when left out"
    )


class RosterUpdate(BaseModel):
    """Only the fields sent change; the merged entry is checked as a whole (e.g. start and end together)."""

    model_config = ConfigDict(extra="forbid")

    grid_id: str | None = None
    username: str | None = None
    weekdays: list[int | str] | None = None
    start_time: time | None = None
    end_time: time | None = None
    timezone: str | None = None
    priority: int | None = None


class RosterPublic(BaseModel):
    roster_id: str
    grid_id: str
    username: str
    weekdays: list[int] | None
    start_time: time | None
    end_time: time | None
    timezone: str
    priority: int
    district_id: str | None = Field(description="the grid's district")
    user_active: bool = Field(description="a disabled user's entries are kept but never route work")

    @field_validator("weekdays")
    @classmethod
    def _every_day(cls, value: list[int] | None) -> list[int] | None:
        return value or None  # an empty array in the table means every day to the router too

    def fields(self) -> RosterFields:
        return RosterFields.model_validate(self.model_dump(include=set(RosterFields.model_fields)))

    def entry(self) -> RosterEntry:
        """As the router reads the row (no re-validation: an old row the API would refuse still routes)."""
        return RosterEntry(
            grid_id=self.grid_id,
            username=self.username,
            weekdays=frozenset(self.weekdays) if self.weekdays else None,
            start=self.start_time,
            end=self.end_time,
            timezone=self.timezone,
            priority=self.priority,
        )


class OnDuty(BaseModel):
    grid_id: str
    at: datetime
    officer: str | None = Field(description="who routing dispatches to at `at` (None: nobody on duty)")
    supervisor: str | None = Field(description="the grid's supervisor (escalations)")
    on_duty: list[RosterPublic] = Field(description="every active entry on duty at `at`, in routing order")


_SELECT = (
    "SELECT r.roster_id, r.grid_id, r.username, r.weekdays, r.start_time, r.end_time, r.timezone, r.priority,"
    " g.district_id, u.active AS user_active FROM rosters r JOIN grids g USING (grid_id) JOIN users u USING (username)"
)


@dataclass(frozen=True, slots=True)
class RosterFilters:
    grid_id: str | None = None
    username: str | None = None
    district_id: str | None = None
    limit: int = 100
    offset: int = 0


def list_rosters(conn: psycopg.Connection, f: RosterFilters) -> tuple[list[RosterPublic], int]:
    where = (
        "(%(grid)s::text IS NULL OR r.grid_id = %(grid)s) AND (%(user)s::text IS NULL OR r.username = %(user)s)"
        " AND (%(district)s::text IS NULL OR g.district_id = %(district)s)"
    )
    params = {"grid": f.grid_id, "user": f.username, "district": f.district_id, "limit": f.limit, "offset": f.offset}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"{_SELECT} WHERE {where} ORDER BY r.grid_id, r.priority, r.username, r.roster_id"
            " LIMIT %(limit)s OFFSET %(offset)s",
            params,
        ).fetchall()
        total = cur.execute(
            f"SELECT count(*) AS n FROM rosters r JOIN grids g USING (grid_id) WHERE {where}", params
        ).fetchone()
    return [RosterPublic.model_validate(r) for r in rows], int(total["n"]) if total else 0


def get_roster(conn: psycopg.Connection, roster_id: str, *, lock: bool = False) -> RosterPublic | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"{_SELECT} WHERE r.roster_id = %s" + (LOCK if lock else ""), (roster_id,)).fetchone()
    return RosterPublic.model_validate(row) if row else None


def require_roster(conn: psycopg.Connection, roster_id: str, *, lock: bool = False) -> RosterPublic:
    found = get_roster(conn, roster_id, lock=lock)
    if found is None:
        raise not_found(f"roster entry {roster_id!r}")
    return found


def _check_refs(conn: psycopg.Connection, fields: RosterFields) -> None:
    if get_grid(conn, fields.grid_id) is None:
        raise invalid("grid_id", f"unknown grid {fields.grid_id!r}")
    row = conn.execute("SELECT role, active FROM users WHERE username = %s", (fields.username,)).fetchone()
    if row is None:
        raise invalid("username", f"{fields.username!r} is not a user")
    if row[0] not in ROSTER_ROLES:
        raise invalid("username", f"{fields.username!r} is a {row[0]}; rosters are for: {', '.join(ROSTER_ROLES)}")
    if not row[1]:
        raise invalid("username", f"{fields.username!r} is disabled; enable the user first")


def _write(conn: psycopg.Connection, roster_id: str, f: RosterFields, *, insert: bool) -> None:
    params: dict[str, Any] = {**f.model_dump(), "roster_id": roster_id}
    if insert:
        done = conn.execute(
            "INSERT INTO rosters (roster_id, grid_id, username, weekdays, start_time, end_time, timezone, priority)"
            " VALUES (%(roster_id)s, %(grid_id)s, %(username)s, %(weekdays)s::smallint[], %(start_time)s,"
            " %(end_time)s, %(timezone)s, %(priority)s) ON CONFLICT DO NOTHING RETURNING 1",
            params,
        ).fetchone()
        if done is None:
            raise conflict(f"roster entry {roster_id!r} already exists; update it instead")
        return
    conn.execute(
        "UPDATE rosters SET grid_id = %(grid_id)s, username = %(username)s, weekdays = %(weekdays)s::smallint[],"
        " start_time = %(start_time)s, end_time = %(end_time)s, timezone = %(timezone)s, priority = %(priority)s"
        " WHERE roster_id = %(roster_id)s",
        params,
    )


def create_roster(conn: psycopg.Connection, body: RosterCreate) -> RosterPublic:
    fields = RosterFields.model_validate(body.model_dump(exclude={"roster_id"}))
    _check_refs(conn, fields)
    roster_id = body.roster_id or f"{fields.grid_id}:{fields.username}:{secrets.token_hex(3)}"
    _write(conn, roster_id, fields, insert=True)
    return require_roster(conn, roster_id)


def update_roster(conn: psycopg.Connection, roster_id: str, body: RosterUpdate) -> RosterPublic:
    current = require_roster(conn, roster_id)
    merged = {**current.fields().model_dump(), **body.model_dump(exclude_unset=True)}
    try:
        fields = RosterFields.model_validate(merged)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False)
        ]
        first = errors[0]
        raise invalid_many(errors, f"{'.'.join(map(str, first['loc'][1:])) or 'body'}: {first['msg']}") from None
    _check_refs(conn, fields)
    _write(conn, roster_id, fields, insert=False)
    return require_roster(conn, roster_id)


def delete_roster(conn: psycopg.Connection, roster_id: str) -> RosterPublic:
    found = require_roster(conn, roster_id, lock=True)
    conn.execute("DELETE FROM rosters WHERE roster_id = %s", (roster_id,))
    return found


def on_duty(entries: list[RosterPublic], grid_id: str, at: datetime) -> tuple[str | None, list[RosterPublic]]:
    """Pure: the officer routing picks (GridIndex.officer_on_duty over the active entries) and every active entry
    on duty at `at`, in routing order (priority, then username)."""
    active = [e for e in entries if e.user_active and e.grid_id == grid_id]
    index = GridIndex([], [e.entry() for e in active])
    present = sorted((e for e in active if e.entry().on_duty(at)), key=lambda e: (e.priority, e.username))
    return index.officer_on_duty(grid_id, at), present


def grid_roster(conn: psycopg.Connection, grid_id: str) -> list[RosterPublic]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"{_SELECT} WHERE r.grid_id = %s", (grid_id,)).fetchall()
    return [RosterPublic.model_validate(r) for r in rows]
