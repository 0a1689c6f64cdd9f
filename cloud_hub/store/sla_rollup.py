"""SLA figures per due day, kind and district, kept in `rollup_sla_daily_data` by the hub (every edition:
work orders are mutable rows, not a hypertable, so no continuous aggregate can read them).

Per work order with a deadline, day = the local date of `due_at` in the rollup time zone:
- due          every order due that day except false alarms (the AI was wrong: no SLA to meet),
- met          resolved (latest move to `resolved`, still resolved/verified/closed) at or before `due_at`,
- breached     resolved after `due_at`, or not resolved and `due_at` has passed,
- overdue_open not resolved and `due_at` has passed (the part of `breached` someone still has to act on),
- false_alarm  orders flagged as false alarms.

Incremental: a refresh recomputes the days of orders changed since the last refresh (minus a margin for
transactions that were still open), the days whose deadlines passed since then, and the last couple of days;
each day is deleted and re-inserted in one transaction, so repeating a refresh changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

WATERMARK_PREFIX = "sla_daily@"
COMMIT_MARGIN = timedelta(minutes=5)  # a work-order transaction open longer than this is not expected
LOOKBACK_DAYS = 2

_ORDERS = """
WITH orders AS (
    SELECT w.id, w.kind, coalesce(w.district, '') AS district, w.due_at, w.status,
           (w.due_at AT TIME ZONE %(tz)s)::date AS day,
           CASE WHEN w.status IN ('resolved', 'verified', 'closed') THEN
               coalesce((SELECT max(t.at) FROM work_order_transitions t
                         WHERE t.work_order_id = w.id AND t.to_status = 'resolved'), w.updated_at)
           END AS resolved_at
    FROM work_orders w
    WHERE w.due_at IS NOT NULL AND (w.due_at AT TIME ZONE %(tz)s)::date = ANY(%(days)s)
)
INSERT INTO rollup_sla_daily_data (day, kind, district, due, met, breached, overdue_open, false_alarm, refreshed_at)
SELECT day, kind, district,
       count(*) FILTER (WHERE status <> 'false_alarm'),
       count(*) FILTER (WHERE status <> 'false_alarm' AND resolved_at <= due_at),
       count(*) FILTER (WHERE status <> 'false_alarm'
                        AND (resolved_at > due_at OR (resolved_at IS NULL AND due_at < %(now)s))),
       count(*) FILTER (WHERE status <> 'false_alarm' AND resolved_at IS NULL AND due_at < %(now)s),
       count(*) FILTER (WHERE status = 'false_alarm'),
       %(now)s
FROM orders
GROUP BY day, kind, district
"""


@dataclass(frozen=True, slots=True)
class SlaRefreshReport:
    days: int
    rows: int
    full: bool

    def describe(self) -> str:
        what = "full rebuild" if self.full else "incremental"
        return f"SLA rollup {what}: {self.days} days recomputed, {self.rows} rows"


def recompute_days(conn: psycopg.Connection, days: Iterable[date], now: datetime, tz: str) -> int:
    """Replace the rows of `days` by fresh figures as of `now`; the caller owns the transaction."""
    days = sorted(set(days))
    if not days:
        return 0
    conn.execute("DELETE FROM rollup_sla_daily_data WHERE day = ANY(%s)", (days,))
    return conn.execute(_ORDERS, {"tz": tz, "days": days, "now": now}).rowcount


def _changed_days(conn: psycopg.Connection, since: datetime, now: datetime, tz: str) -> set[date]:
    rows = conn.execute(
        "SELECT DISTINCT (due_at AT TIME ZONE %(tz)s)::date FROM work_orders WHERE due_at IS NOT NULL"
        " AND (updated_at >= %(since)s OR (due_at >= %(since)s AND due_at < %(now)s))",
        {"tz": tz, "since": since, "now": now},
    ).fetchall()
    return {r[0] for r in rows}


def _all_days(conn: psycopg.Connection, tz: str) -> set[date]:
    rows = conn.execute(
        "SELECT DISTINCT (due_at AT TIME ZONE %s)::date FROM work_orders WHERE due_at IS NOT NULL", (tz,)
    ).fetchall()
    return {r[0] for r in rows}


def refresh_sla_daily(conn: psycopg.Connection, now: datetime, tz: str = "UTC") -> SlaRefreshReport:
    """Bring the SLA rollup up to `now` in one transaction. The first refresh for a time zone (also after the
    zone setting changed) rebuilds every day, since day boundaries moved."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    name = WATERMARK_PREFIX + tz
    with conn.transaction():
        # Serialise refreshes: two replicas' deletes and inserts of the same day must not interleave.
        conn.execute("LOCK TABLE rollup_sla_daily_data IN SHARE ROW EXCLUSIVE MODE")
        row = conn.execute("SELECT refreshed_to FROM rollup_watermarks WHERE name = %s", (name,)).fetchone()
        full = row is None
        if full:
            conn.execute("DELETE FROM rollup_sla_daily_data")
            conn.execute("DELETE FROM rollup_watermarks WHERE name LIKE %s", (WATERMARK_PREFIX + "%",))
            days = _all_days(conn, tz)
        else:
            days = _changed_days(conn, row[0] - COMMIT_MARGIN, now, tz)
            today = now.astimezone(ZoneInfo(tz)).date()
            days.update(today - timedelta(days=i) for i in range(LOOKBACK_DAYS + 1))
        rows = recompute_days(conn, days, now, tz)
        conn.execute(
            "INSERT INTO rollup_watermarks (name, refreshed_to) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
            " SET refreshed_to = EXCLUDED.refreshed_to, updated_at = now()",
            (name, now),
        )
    return SlaRefreshReport(len(days), rows, full)
