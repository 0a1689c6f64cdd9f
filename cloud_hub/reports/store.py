"""Data access for citizens' reports (table `citizen_reports`, migration 0016) and the incidents they open.

A case number is claimed by inserting its row in the request's transaction: a concurrent retry waits on that row and
then finds the committed case (or, had the first attempt rolled back, claims it itself)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

ORIGIN = "report"  # incidents.origin of a citizen's report


@dataclass(frozen=True, slots=True)
class NewCase:
    client_id: str
    case_number: str
    content: dict[str, Any]  # what was reported, JSON-ready (photos by sha256): compared on a retry
    category: str
    kind: str
    text: str
    address: str | None
    lon: float | None
    lat: float | None
    reported_at: datetime


def claim_case(conn: psycopg.Connection, case: NewCase) -> dict[str, Any] | None:
    """None when this request now owns the case number (go on and open the case); else the stored case's content
    and links (`content`, `incident_id`, `work_order_id`)."""
    inserted = conn.execute(
        "INSERT INTO citizen_reports (client_id, case_number, content, category, kind, text, address, lon, lat,"
        " reported_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (case.client_id, case.case_number, Jsonb(case.content), case.category, case.kind, case.text, case.address,
         case.lon, case.lat, case.reported_at),
    ).fetchone()  # fmt: skip
    if inserted is not None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT content, incident_id, work_order_id FROM citizen_reports WHERE client_id = %s AND case_number = %s",
            (case.client_id, case.case_number),
        ).fetchone()
    assert row is not None  # ON CONFLICT waited for the other transaction, which committed the row
    return row


@dataclass(frozen=True, slots=True)
class ReportIncident:
    incident_key: str
    kind: str
    subtype: str | None
    severity: str
    lon: float | None
    lat: float | None
    grid_id: str | None
    district: str | None
    seen_at: datetime


def insert_incident(conn: psycopg.Connection, incident: ReportIncident) -> int:
    """An open incident without a device or events (origin 'report')."""
    row = conn.execute(
        "INSERT INTO incidents (origin, device_id, incident_key, kind, subtype, severity, status, lon, lat, grid_id,"
        " district, first_seen, last_seen, event_count)"
        " VALUES (%s, NULL, %s, %s, %s, %s, 'open', %s, %s, %s, %s, %s, %s, 0) RETURNING id",
        (ORIGIN, incident.incident_key, incident.kind, incident.subtype, incident.severity, incident.lon, incident.lat,
         incident.grid_id, incident.district, incident.seen_at, incident.seen_at),
    ).fetchone()  # fmt: skip
    assert row is not None
    return int(row[0])


def link_case(conn: psycopg.Connection, client_id: str, case_number: str, incident_id: int, order_id: int) -> None:
    conn.execute(
        "UPDATE citizen_reports SET incident_id = %s, work_order_id = %s WHERE client_id = %s AND case_number = %s",
        (incident_id, order_id, client_id, case_number),
    )


def district_exists(conn: psycopg.Connection, district_id: str) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM districts WHERE district_id = %s)", (district_id,)).fetchone()
    return bool(row and row[0])


_CASE = """
SELECT r.client_id, r.case_number, r.category, r.kind, r.text, r.address, r.lon, r.lat, r.reported_at,
    r.received_at, r.incident_id, r.work_order_id, i.status AS incident_status, i.severity, i.grid_id, i.district,
    w.status, w.due_at, w.updated_at,
    (SELECT count(*) FROM work_order_photos p WHERE p.work_order_id = w.id) AS photos
FROM citizen_reports r
JOIN incidents i ON i.id = r.incident_id
JOIN work_orders w ON w.id = r.work_order_id
WHERE {where}
"""


def _with_history(conn: psycopg.Connection, row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row["history"] = cur.execute(
            "SELECT to_status AS status, at, note FROM work_order_transitions WHERE work_order_id = %s ORDER BY id",
            (row["work_order_id"],),
        ).fetchall()
    return row


def get_case(conn: psycopg.Connection, client_id: str, case_number: str) -> dict[str, Any] | None:
    """The case as filed, its incident and work order now, and every status its order went through (`history`)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            _CASE.format(where="r.client_id = %s AND r.case_number = %s"), (client_id, case_number)
        ).fetchone()
    return _with_history(conn, row)


def get_case_of_order(conn: psycopg.Connection, order_id: int) -> dict[str, Any] | None:
    """The citizen's report behind a work order, or None when the order did not come from one."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_CASE.format(where="r.work_order_id = %s"), (order_id,)).fetchone()
    return _with_history(conn, row)
