"""Reading stored events (the API's event list)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

MAX_LIMIT = 1000


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


def _where(f: EventFilters) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
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
    return (" AND ".join(clauses) or "true"), params


def list_events(conn: psycopg.Connection, filters: EventFilters) -> tuple[list[dict[str, Any]], int]:
    """Newest first, with whether evidence is stored for each; and the total count for the filters."""
    where, params = _where(filters)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT e.device_id, e.event_id::text AS event_id, e.seq, e.ts, e.received_at, e.kind, e.subtype, e.phase,"
            " e.incident_key, e.camera_id, e.zone_id, e.confidence, e.lon, e.lat, e.payload,"
            " (v.event_id IS NOT NULL) AS has_evidence "
            f"FROM events e LEFT JOIN evidence v ON v.event_id = e.event_id WHERE {where} "
            "ORDER BY e.ts DESC, e.device_id, e.seq DESC LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": filters.limit, "offset": filters.offset},
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n FROM events e WHERE {where}", params).fetchone()
    return rows, int(total["n"]) if total else 0
