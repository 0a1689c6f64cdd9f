"""Events per hour (kind, subtype, device, camera) kept by the hub where the server has no continuous aggregates.

Incremental and idempotent, like TimescaleDB's own invalidation log: the ingest transaction that stores new events
marks their hours dirty (`RollupInvalidator`, an EventProcessor), and a refresh recomputes exactly those hours
(plus the last `lookback` hours as a safety net) with a delete-and-insert per hour inside one transaction, so a
refresh run twice, or by two replicas one after the other, leaves the same rows.

Why the markers are correct under concurrency: the refresh first deletes the markers it can see, then recomputes
their hours with later snapshots (READ COMMITTED). A marker committed after that delete stays for the next
refresh; events committed before it are visible to the recompute. At worst an hour is recomputed twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from cloud_hub.core.types import IngestedEvent

WATERMARK = "events_hourly"
HOUR = timedelta(hours=1)


def hour_of(ts: datetime) -> datetime:
    """The UTC hour bucket a timestamp falls in (the same buckets as time_bucket('1 hour', ts))."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone")
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def mark_dirty_hours(conn: psycopg.Connection, timestamps: Iterable[datetime]) -> int:
    """Record the hours of newly stored events for the next refresh; returns how many hours were marked."""
    hours = sorted({hour_of(ts) for ts in timestamps})
    if hours:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO rollup_dirty_hours (bucket) VALUES (%s)", [(h,) for h in hours])
    return len(hours)


class RollupInvalidator:
    """EventProcessor: marks the hours of the events an ingest transaction stored (one tiny insert per batch)."""

    def __call__(self, conn: psycopg.Connection, events: Sequence[IngestedEvent]) -> None:
        mark_dirty_hours(conn, (e.event.ts for e in events))


@dataclass(frozen=True, slots=True)
class RefreshReport:
    buckets: int  # hours recomputed
    rows: int  # rollup rows written for them
    first: datetime | None = None
    last: datetime | None = None

    def describe(self) -> str:
        if not self.buckets:
            return "nothing to refresh"
        span = f"{self.first:%Y-%m-%d %H:00} .. {self.last:%Y-%m-%d %H:00}"
        return f"{self.buckets} hours recomputed ({span}), {self.rows} rows"


_RECOMPUTE = """
INSERT INTO rollup_events_hourly_data (bucket, kind, subtype, device_id, camera_id, events)
SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', kind, coalesce(subtype, ''), device_id,
       coalesce(camera_id, ''), count(*)
FROM events
WHERE ts >= %(start)s AND ts < %(end)s
GROUP BY 1, 2, 3, 4, 5
"""


def hour_ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours merged into [start, end) ranges, so each range is one index range scan."""
    ranges: list[tuple[datetime, datetime]] = []
    for h in sorted({hour_of(h) for h in hours}):
        if ranges and ranges[-1][1] == h:
            ranges[-1] = (ranges[-1][0], h + HOUR)
        else:
            ranges.append((h, h + HOUR))
    return ranges


def recompute_hours(conn: psycopg.Connection, hours: Iterable[datetime]) -> int:
    """Replace the rollup rows of `hours` (UTC hour starts) by fresh counts from `events`; returns rows written.
    The caller owns the transaction (readers see the old or the new rows of an hour, never a mix)."""
    rows = 0
    for start, end in hour_ranges(hours):
        conn.execute("DELETE FROM rollup_events_hourly_data WHERE bucket >= %s AND bucket < %s", (start, end))
        rows += conn.execute(_RECOMPUTE, {"start": start, "end": end}).rowcount
    return rows


def _initial_hours(conn: psycopg.Connection, now: datetime) -> list[datetime]:
    """First refresh ever: every hour that has events (history stored before this rollup existed)."""
    rows = conn.execute(
        "SELECT DISTINCT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM events WHERE ts < %s",
        (now + HOUR,),
    ).fetchall()
    return [r[0] for r in rows]


def refresh_events_hourly(
    conn: psycopg.Connection, now: datetime, lookback: timedelta = timedelta(hours=2)
) -> RefreshReport:
    """Recompute the dirty hours and the last `lookback` hours; one transaction (call on an autocommit or idle
    connection). Hours more than a day in the future are ignored (the ingest refuses such events anyway)."""
    with conn.transaction():
        # Serialise refreshes (the scheduler's advisory lock already does; this also covers direct callers).
        conn.execute("LOCK TABLE rollup_events_hourly_data IN SHARE ROW EXCLUSIVE MODE")
        dirty = [r[0] for r in conn.execute("DELETE FROM rollup_dirty_hours RETURNING bucket").fetchall()]
        first_run = conn.execute("SELECT 1 FROM rollup_watermarks WHERE name = %s", (WATERMARK,)).fetchone() is None
        hours = set(dirty)
        if first_run:
            hours.update(_initial_hours(conn, now))
        current = hour_of(now)
        step = current - hour_of(now - lookback)
        hours.update(current - HOUR * i for i in range(int(step / HOUR) + 1))
        ordered = sorted(h for h in hours if h <= current + timedelta(days=1))
        rows = recompute_hours(conn, ordered)
        conn.execute(
            "INSERT INTO rollup_watermarks (name, refreshed_to) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
            " SET refreshed_to = EXCLUDED.refreshed_to, updated_at = now()",
            (WATERMARK, now),
        )
    return RefreshReport(len(ordered), rows, ordered[0] if ordered else None, ordered[-1] if ordered else None)
