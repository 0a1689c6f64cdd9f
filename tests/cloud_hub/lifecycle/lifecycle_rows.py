"""Row factories for the lifecycle tests (a uniquely named module, imported by the test files)."""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg


def insert_events(
    conn: psycopg.Connection,
    rows: list[tuple[str, datetime, str, str | None, str | None]],
) -> list[str]:
    """(device_id, ts, kind, subtype, camera_id) rows as stored events; returns their event ids."""
    ids = [str(uuid.uuid4()) for _ in rows]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (device_id, event_id, seq, ts, kind, subtype, phase, incident_key, camera_id, payload)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'start', 'k', %s, '{}')",
            [(d, i, n + 1, ts, k, s, c) for n, (i, (d, ts, k, s, c)) in enumerate(zip(ids, rows, strict=True))],
        )
    return ids
