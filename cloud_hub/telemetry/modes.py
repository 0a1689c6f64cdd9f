"""Hub-wide operating modes (rainstorm), stored in the database so every replica agrees; every switch is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import psycopg
from psycopg.rows import dict_row

ModeName = Literal["rainstorm"]
MODES: tuple[str, ...] = ("rainstorm",)


@dataclass(frozen=True, slots=True)
class ModeState:
    name: str
    enabled: bool
    note: str | None
    changed_by: str | None
    changed_at: datetime


def _check(name: str) -> None:
    if name not in MODES:
        raise ValueError(f"unknown mode {name!r}; known modes: {', '.join(MODES)}")


def get_mode(conn: psycopg.Connection, name: str) -> ModeState:
    _check(name)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT name, enabled, note, changed_by, changed_at FROM hub_modes WHERE name = %s", (name,))
        row = cur.fetchone()
    if row is None:  # the migration seeds every known mode; a missing row means "never switched on"
        return ModeState(name, False, None, None, datetime.fromtimestamp(0, UTC))
    return ModeState(**row)


def mode_enabled(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT enabled FROM hub_modes WHERE name = %s", (name,)).fetchone()
    return bool(row and row[0])


def set_mode(conn: psycopg.Connection, name: str, enabled: bool, note: str | None, actor: str, role: str) -> ModeState:
    """Switch the mode and append the audit row, in the caller's transaction."""
    _check(name)
    conn.execute(
        "INSERT INTO hub_modes (name, enabled, note, changed_by, changed_at) VALUES (%s, %s, %s, %s, now())"
        " ON CONFLICT (name) DO UPDATE SET enabled = EXCLUDED.enabled, note = EXCLUDED.note,"
        " changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at",
        (name, enabled, note, actor),
    )
    conn.execute(
        "INSERT INTO hub_mode_changes (name, enabled, note, actor, role) VALUES (%s, %s, %s, %s, %s)",
        (name, enabled, note, actor, role),
    )
    return get_mode(conn, name)


def mode_history(conn: psycopg.Connection, name: str, limit: int = 50) -> list[dict]:
    _check(name)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT enabled, note, actor, role, at FROM hub_mode_changes WHERE name = %s ORDER BY id DESC LIMIT %s",
            (name, limit),
        )
        return cur.fetchall()
