"""Data access for the live channel: read `live_messages` in delivery order up to the safe horizon, prune old ones.

Delivery order is (txid, id). Rows are readable only below the horizon `pg_snapshot_xmin(pg_current_snapshot())`,
the oldest transaction still running: every transaction below it has ended, so no row can later appear before a
position already delivered (a plain identity column would not do: ids are taken before commit, and a transaction
holding a low id may commit after one holding a higher id). Rows of committed transactions above the horizon are
reported as `pending`, so the reader retries soon instead of waiting for the next NOTIFY.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from cloud_hub.live.messages import START, LiveMessage, Position

CHANNEL = "cityops_live"

_READ = """
SELECT m.txid::text, m.id, m.at, m.topic, m.op, m.payload::text, m.grid_id, m.district, m.assignee, m.kind,
       m.device_id, m.txid < h.horizon AS ready
FROM live_messages m CROSS JOIN (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) h
WHERE (m.txid, m.id) > (%s::text::xid8, %s)
ORDER BY m.txid, m.id
LIMIT %s
"""


@dataclass(frozen=True, slots=True)
class Batch:
    messages: list[LiveMessage]
    pending: bool  # committed messages beyond the horizon exist: read again soon


def read_after(conn: psycopg.Connection, after: Position, limit: int = 1000) -> Batch:
    """Up to `limit` deliverable messages after `after`, in delivery order."""
    rows = conn.execute(_READ, (str(after.txid), after.id, limit)).fetchall()
    messages: list[LiveMessage] = []
    for txid, row_id, at, topic, op, payload, grid_id, district, assignee, kind, device_id, ready in rows:
        if not ready:  # everything after it is beyond the horizon too (ordered by txid)
            return Batch(messages, pending=True)
        position = Position(int(txid), row_id)
        messages.append(LiveMessage(position, at, topic, op, payload, grid_id, district, assignee, kind, device_id))
    return Batch(messages, pending=False)


def head(conn: psycopg.Connection) -> Position:
    """The last deliverable position now (where a reader that wants only new messages starts)."""
    row = conn.execute(
        "SELECT m.txid::text, m.id FROM live_messages m"
        " WHERE m.txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY m.txid DESC, m.id DESC LIMIT 1"
    ).fetchone()
    return Position(int(row[0]), row[1]) if row else pruned_through(conn)


def pruned_through(conn: psycopg.Connection) -> Position:
    """Messages at or before this position may have been deleted: a client behind it must resynchronise."""
    row = conn.execute("SELECT txid::text, id FROM live_pruned WHERE singleton").fetchone()
    return Position(int(row[0]), row[1]) if row else START


def prune(conn: psycopg.Connection, older_than: datetime, batch: int = 50_000) -> int:
    """Delete deliverable messages written before `older_than`, oldest first; remember how far (autocommit conn:
    one transaction per batch)."""
    deleted = 0
    while True:
        with conn.transaction():
            row = conn.execute(
                """
                WITH doomed AS (
                    SELECT m.txid, m.id FROM live_messages m
                    WHERE m.at < %s AND m.txid < pg_snapshot_xmin(pg_current_snapshot())
                    ORDER BY m.txid, m.id LIMIT %s
                ), gone AS (
                    DELETE FROM live_messages m USING doomed d WHERE m.txid = d.txid AND m.id = d.id
                    RETURNING m.txid, m.id
                ), last AS (
                    SELECT txid, id FROM gone ORDER BY txid DESC, id DESC LIMIT 1
                )
                INSERT INTO live_pruned (singleton, txid, id)
                SELECT true, txid, id FROM last
                ON CONFLICT (singleton) DO UPDATE SET
                    txid = CASE WHEN (EXCLUDED.txid, EXCLUDED.id) > (live_pruned.txid, live_pruned.id)
                                THEN EXCLUDED.txid ELSE live_pruned.txid END,
                    id = CASE WHEN (EXCLUDED.txid, EXCLUDED.id) > (live_pruned.txid, live_pruned.id)
                              THEN EXCLUDED.id ELSE live_pruned.id END
                RETURNING (SELECT count(*) FROM gone)
                """,
                (older_than, batch),
            ).fetchone()
        n = int(row[0]) if row else 0
        deleted += n
        if n < batch:
            return deleted
