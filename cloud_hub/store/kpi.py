"""The command centre's KPI figures, read from incidents, work orders, their transitions, devices and the SLA
rollup, scoped by `cloud_hub.auth.scope` (commanders: their districts, or the whole city).

Definitions used throughout:
- an order is *open* while someone still has to act (`workorders.state_machine.OPEN`), *overdue* when open, not
  yet resolved and past its deadline (the SLA rollup's `overdue_open`);
- an order is *decided* once it reached verified, closed (the detection was true) or false_alarm (it was not);
  its decision time is its first move into one of those; precision = true / (true + false).
Ranges are half-open [since, until), timezone-aware and at most `MAX_RANGE` long, like the rollup queries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from cloud_hub.auth.scope import MAINTENANCE_KINDS, Scope, scope_sql
from cloud_hub.devices.status import INTERVAL_KEYS, DeviceStatus, device_status
from cloud_hub.incidents.store import OVERDUE_STATUSES
from cloud_hub.rules.models import SEVERITIES
from cloud_hub.store.stats import MAX_EVENT_RANGE, MAX_ROWS, StatsQueryError
from cloud_hub.workorders.state_machine import OPEN, Status

MAX_RANGE = MAX_EVENT_RANGE
OPEN_STATUSES: tuple[str, ...] = tuple(sorted(s.value for s in OPEN))
TRUE_STATUSES: tuple[str, ...] = (Status.VERIFIED.value, Status.CLOSED.value)
DECIDED_STATUSES: tuple[str, ...] = (*TRUE_STATUSES, Status.FALSE_ALARM.value)
HOURLY_DIMENSIONS = ("kind", "district")
# Precision groups: `by` -> (column expressions of the group). Zone ids are a camera's own, so a zone is grouped
# with its camera. `e` is the incident's first event (its payload names the model and rule that fired).
PRECISION_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "camera": (("camera_id", "coalesce(i.camera_id, e.camera_id)"),),
    "model": (("model_name", "e.payload -> 'model' ->> 'name'"), ("model_sha256", "e.payload -> 'model' ->> 'sha256'")),
    "rule": (("rule_id", "e.payload -> 'rule' ->> 'id'"), ("rule_version", "e.payload -> 'rule' ->> 'version'")),
    "zone": (("camera_id", "coalesce(i.camera_id, e.camera_id)"), ("zone_id", "coalesce(i.zone_id, e.zone_id)")),
    "kind": (("kind", "i.kind"),),
}


@dataclass(frozen=True, slots=True)
class TimeRange:
    since: datetime
    until: datetime  # exclusive

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            if getattr(self, name).tzinfo is None:
                raise StatsQueryError(f"{name} needs a time zone, e.g. 2026-11-22T18:00:00Z")
        if self.until <= self.since:
            raise StatsQueryError("until must be after since")
        if self.until - self.since > MAX_RANGE:
            raise StatsQueryError(f"since..until may span at most {MAX_RANGE.days} days")

    def params(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until}


# --- summary -------------------------------------------------------------------------------------------------


def open_incidents_by_severity(conn: psycopg.Connection, scope: Scope) -> dict[str, int]:
    visible, params = scope_sql(scope, alias="i")
    rows = conn.execute(
        f"SELECT i.severity, count(*) FROM incidents i WHERE i.status = 'open' AND {visible} GROUP BY 1", params
    ).fetchall()
    counts = dict.fromkeys(SEVERITIES, 0)
    counts.update({severity: int(n) for severity, n in rows})
    return counts


def incidents_opened_by(conn: psycopg.Connection, scope: Scope, span: TimeRange, column: str) -> list[tuple[Any, int]]:
    """(value of `column`, incidents first seen in the range), most first."""
    if column not in HOURLY_DIMENSIONS:
        raise ValueError(f"column must be one of {HOURLY_DIMENSIONS}")
    visible, params = scope_sql(scope, alias="i")
    rows = conn.execute(
        f"SELECT i.{column}, count(*) FROM incidents i"
        f" WHERE i.first_seen >= %(since)s AND i.first_seen < %(until)s AND {visible}"
        " GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST",
        {**params, **span.params()},
    ).fetchall()
    return [(value, int(n)) for value, n in rows]


def work_order_counts(conn: psycopg.Connection, scope: Scope, span: TimeRange, now: datetime) -> dict[str, int]:
    """open and overdue now; closed: orders decided (verified, closed, false_alarm) within the range."""
    visible, params = scope_sql(scope, alias="w", assignee="w.assignee")
    with conn.cursor(row_factory=dict_row) as cur:
        current = cur.execute(
            "SELECT count(*) FILTER (WHERE w.status = ANY(%(open)s)) AS open,"
            " count(*) FILTER (WHERE w.status = ANY(%(overdue)s) AND w.due_at < %(now)s) AS overdue"
            f" FROM work_orders w WHERE w.status = ANY(%(open)s) AND {visible}",
            {**params, "open": list(OPEN_STATUSES), "overdue": list(OVERDUE_STATUSES), "now": now},
        ).fetchone()
        closed = cur.execute(
            "SELECT count(DISTINCT t.work_order_id) AS closed FROM work_order_transitions t"
            " JOIN work_orders w ON w.id = t.work_order_id"
            f" WHERE t.to_status = ANY(%(decided)s) AND t.at >= %(since)s AND t.at < %(until)s AND {visible}",
            {**params, **span.params(), "decided": list(DECIDED_STATUSES)},
        ).fetchone()
    return {"open": int(current["open"]), "overdue": int(current["overdue"]), "closed": int(closed["closed"])}


def sla_totals(conn: psycopg.Connection, scope: Scope, span: TimeRange, tz: str) -> tuple[int, int]:
    """(met, breached) of the SLA rollup's due days that the range touches, in the rollup's time zone."""
    zone = ZoneInfo(tz)
    first, last = span.since.astimezone(zone).date(), (span.until - timedelta(microseconds=1)).astimezone(zone).date()
    visible, params = scope_sql(scope, alias="r")
    row = conn.execute(
        "SELECT coalesce(sum(r.met), 0), coalesce(sum(r.breached), 0) FROM rollup_sla_daily r"
        f" WHERE r.day >= %(first)s AND r.day <= %(last)s AND {visible}",
        {**params, "first": first, "last": last},
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def fleet_rows(conn: psycopg.Connection) -> list[tuple[bool, datetime | None, dict[str, Any] | None]]:
    """(online, last_seen, the health fields `device_status` reads) of every device."""
    health = ", ".join(f"'{k}', health -> '{k}'" for k in ("ts", *INTERVAL_KEYS))
    rows = conn.execute(
        f"SELECT online, last_seen, CASE WHEN health IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object("
        f"{health})) END FROM devices"
    ).fetchall()
    return [(bool(online), last_seen, h) for online, last_seen, h in rows]


def fleet_counts(rows: Iterable[tuple[bool, datetime | None, dict[str, Any] | None]], now: datetime) -> dict[str, int]:
    """Devices per status (`cloud_hub.devices.status`), and the total. Pure."""
    counted = Counter(device_status(online, last_seen, health, now) for online, last_seen, health in rows)
    counts = {status.value: counted.get(status, 0) for status in DeviceStatus}
    counts["total"] = sum(counted.values())
    return counts


def cameras_with_open_fault(conn: psycopg.Connection, scope: Scope) -> int:
    visible, params = scope_sql(scope, alias="i")
    row = conn.execute(
        "SELECT count(DISTINCT i.camera_id) FROM incidents i"
        f" WHERE i.kind = ANY(%(fault_kinds)s) AND i.status = 'open' AND {visible}",
        {**params, "fault_kinds": list(MAINTENANCE_KINDS)},
    ).fetchone()
    return int(row[0]) if row else 0


_DECIDED = """
WITH decided AS (
    SELECT w.id, w.incident_id, w.assignee, w.status = 'false_alarm' AS false_alarm,
           (SELECT min(t.at) FROM work_order_transitions t
            WHERE t.work_order_id = w.id AND t.to_status = ANY(%(decided)s)) AS decided_at
    FROM work_orders w
    WHERE w.status = ANY(%(decided)s)
)
"""


def decisions(conn: psycopg.Connection, scope: Scope, span: TimeRange) -> tuple[int, int]:
    """(true, false alarms) among the orders decided within the range."""
    visible, params = scope_sql(scope, alias="i", assignee="d.assignee")
    row = conn.execute(
        _DECIDED + "SELECT count(*) FILTER (WHERE NOT d.false_alarm), count(*) FILTER (WHERE d.false_alarm)"
        " FROM decided d JOIN incidents i ON i.id = d.incident_id"
        f" WHERE d.decided_at >= %(since)s AND d.decided_at < %(until)s AND {visible}",
        {**params, **span.params(), "decided": list(DECIDED_STATUSES)},
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


# --- incidents per hour ----------------------------------------------------------------------------------------


def incidents_hourly(
    conn: psycopg.Connection,
    scope: Scope,
    span: TimeRange,
    by: tuple[str, ...] = ("kind",),
    filters: dict[str, str] | None = None,
    limit: int = 1000,
) -> tuple[list[dict[str, Any]], int]:
    """Incidents per UTC hour of first_seen and the `by` columns, oldest first; (rows, total before the limit)."""
    unknown = [d for d in (*by, *(filters or {})) if d not in HOURLY_DIMENSIONS]
    if unknown or len(set(by)) != len(by):
        raise StatsQueryError(f"by: choose distinct dimensions from {', '.join(HOURLY_DIMENSIONS)}")
    if not 1 <= limit <= MAX_ROWS:
        raise StatsQueryError(f"limit must be 1..{MAX_ROWS}")
    visible, params = scope_sql(scope, alias="i")
    where = ["i.first_seen >= %(since)s", "i.first_seen < %(until)s", visible]
    for column, value in sorted((filters or {}).items()):
        where.append(f"i.{column} = %(f_{column})s")
        params[f"f_{column}"] = value
    group = ", ".join(["bucket", *(f"i.{d}" for d in by)])
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT date_trunc('hour', i.first_seen, 'UTC') AS bucket{''.join(f', i.{d}' for d in by)},"
            f" count(*) AS incidents, count(*) OVER () AS total FROM incidents i WHERE {' AND '.join(where)}"
            f" GROUP BY {group} ORDER BY {group} LIMIT %(limit)s",
            {**params, **span.params(), "limit": limit},
        ).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    for row in rows:
        row.pop("total")
    return rows, total


# --- precision per camera, model, rule, zone or kind ---------------------------------------------------------


def precision(
    conn: psycopg.Connection, scope: Scope, span: TimeRange, by: str, limit: int = 1000
) -> tuple[list[dict[str, Any]], int]:
    """Per group: decided orders, true (verified/closed), false alarms and precision; worst precision first.
    Groups without a decision in the range do not appear. (rows, total groups before the limit)."""
    if by not in PRECISION_GROUPS:
        raise StatsQueryError(f"by must be one of {', '.join(PRECISION_GROUPS)}")
    if not 1 <= limit <= MAX_ROWS:
        raise StatsQueryError(f"limit must be 1..{MAX_ROWS}")
    columns = PRECISION_GROUPS[by]
    select = ", ".join(f"{expr} AS {name}" for name, expr in columns)
    group = ", ".join(str(n) for n in range(1, len(columns) + 1))
    visible, params = scope_sql(scope, alias="i", assignee="d.assignee")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _DECIDED + f"SELECT {select}, count(*) AS decided,"
            " count(*) FILTER (WHERE NOT d.false_alarm) AS true_positives,"
            " count(*) FILTER (WHERE d.false_alarm) AS false_alarms, count(*) OVER () AS total"
            " FROM decided d JOIN incidents i ON i.id = d.incident_id"
            " LEFT JOIN events e ON e.event_id = i.first_event_id AND e.device_id = i.device_id"
            f" WHERE d.decided_at >= %(since)s AND d.decided_at < %(until)s AND {visible}"
            f" GROUP BY {group}"
            f" ORDER BY count(*) FILTER (WHERE NOT d.false_alarm)::float8 / count(*), count(*) DESC, {group}"
            " LIMIT %(limit)s",
            {**params, **span.params(), "decided": list(DECIDED_STATUSES), "limit": limit},
        ).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    for row in rows:
        row.pop("total")
        row["precision"] = round(row["true_positives"] / row["decided"], 4)
    return rows, total
