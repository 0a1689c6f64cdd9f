"""The admin change record (`admin_changes`, migration 0011): append-only, written in the same transaction as the
change it describes, so a change and its record are stored together or not at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from cloud_hub.auth.users import User

Entity = Literal["district", "grid", "roster", "user", "camera", "rules", "webhook", "report_client"]


class AdminChange(BaseModel):
    id: int
    actor: str
    role: str
    entity: Entity
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime


def record_change(
    conn: psycopg.Connection,
    actor: User,
    entity: Entity,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one change; `before`/`after` are JSON-ready dicts (None for a create's before or a delete's after)."""
    conn.execute(
        "INSERT INTO admin_changes (actor, role, entity, entity_id, action, before, after)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            actor.username,
            actor.role,
            entity,
            entity_id,
            action,
            Jsonb(before) if before is not None else None,
            Jsonb(after) if after is not None else None,
        ),
    )


@dataclass(frozen=True, slots=True)
class ChangeFilters:
    entity: str | None = None
    entity_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def list_changes(conn: psycopg.Connection, f: ChangeFilters) -> tuple[list[AdminChange], int]:
    """Newest first, with the total count for the filters."""
    where, params = ["TRUE"], {"limit": f.limit, "offset": f.offset}
    for column, value in (("entity", f.entity), ("entity_id", f.entity_id), ("actor", f.actor)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    if f.since is not None:
        where.append("at >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        where.append("at < %(until)s")
        params["until"] = f.until
    clause = " AND ".join(where)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, actor, role, entity, entity_id, action, before, after, at FROM admin_changes"
            f" WHERE {clause} ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
            params,
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n FROM admin_changes WHERE {clause}", params).fetchone()
    return [AdminChange.model_validate(r) for r in rows], int(total["n"]) if total else 0
