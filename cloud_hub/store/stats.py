"""Reading the dashboard rollups (the views `rollup_events_hourly` and `rollup_sla_daily`) for the stats API.

Queries name only the views, never what is underneath (continuous aggregate or hub-maintained table). Grouping
columns come from fixed lists and are quoted as identifiers; filter values are always parameters. Rows are limited
to the user's scope (`cloud_hub.auth.scope`: a commander with districts sees those districts' rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from cloud_hub.auth.scope import Scope, scope_sql

EVENT_DIMENSIONS = ("kind", "subtype", "district", "grid_id", "device_id", "camera_id")
SLA_DIMENSIONS = ("kind", "district")
MAX_EVENT_RANGE = timedelta(days=366)
MAX_SLA_RANGE_DAYS = 3 * 366
MAX_ROWS = 10_000


class StatsQueryError(ValueError):
    """A request the stats queries refuse; the message names the parameter."""


def _check_dimensions(by: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    unknown = [d for d in by if d not in allowed]
    if unknown:
        raise StatsQueryError(f"by: unknown dimension(s) {', '.join(unknown)}; choose from {', '.join(allowed)}")
    if len(set(by)) != len(by):
        raise StatsQueryError("by: a dimension is listed twice")


@dataclass(frozen=True, slots=True)
class EventsHourlyQuery:
    since: datetime
    until: datetime
    by: tuple[str, ...] = ("kind",)
    filters: dict[str, str] = field(default_factory=dict)  # dimension -> value
    limit: int = 1000

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            if getattr(self, name).tzinfo is None:
                raise StatsQueryError(f"{name} needs a time zone, e.g. 2026-11-22T18:00:00Z")
        if self.until <= self.since:
            raise StatsQueryError("until must be after since")
        if self.until - self.since > MAX_EVENT_RANGE:
            raise StatsQueryError(f"since..until may span at most {MAX_EVENT_RANGE.days} days")
        _check_dimensions(self.by, EVENT_DIMENSIONS)
        _check_dimensions(tuple(self.filters), EVENT_DIMENSIONS)
        if not 1 <= self.limit <= MAX_ROWS:
            raise StatsQueryError(f"limit must be 1..{MAX_ROWS}")


@dataclass(frozen=True, slots=True)
class SlaDailyQuery:
    since: date
    until: date  # inclusive
    by: tuple[str, ...] = ("kind", "district")
    filters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise StatsQueryError("until must not be before since")
        if (self.until - self.since).days > MAX_SLA_RANGE_DAYS:
            raise StatsQueryError(f"since..until may span at most {MAX_SLA_RANGE_DAYS} days")
        _check_dimensions(self.by, SLA_DIMENSIONS)
        _check_dimensions(tuple(self.filters), SLA_DIMENSIONS)


def _filter_sql(filters: dict[str, str], params: dict[str, Any]) -> list[sql.Composable]:
    clauses: list[sql.Composable] = []
    for i, (column, value) in enumerate(sorted(filters.items())):
        params[f"f{i}"] = value
        clauses.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(f"f{i}")))
    return clauses


def _scope_sql(scope: Scope, params: dict[str, Any]) -> sql.Composable:
    visible, scope_params = scope_sql(scope, alias="r")
    params.update(scope_params)
    return sql.SQL(visible)  # a fixed fragment from scope_sql; its values are parameters


def events_hourly(conn: psycopg.Connection, q: EventsHourlyQuery, scope: Scope) -> tuple[list[dict[str, Any]], int]:
    """Event counts per hour and the chosen dimensions, oldest hour first; (rows, total rows before the limit)."""
    params: dict[str, Any] = {"since": q.since, "until": q.until, "limit": q.limit}
    where = [
        sql.SQL("bucket >= %(since)s"),
        sql.SQL("bucket < %(until)s"),
        *_filter_sql(q.filters, params),
        _scope_sql(scope, params),
    ]
    group = [sql.Identifier("bucket"), *(sql.Identifier(d) for d in q.by)]
    query = sql.SQL(
        "SELECT {group}, sum(events)::bigint AS events, count(*) OVER () AS total FROM rollup_events_hourly r"
        " WHERE {where} GROUP BY {group} ORDER BY {group} LIMIT %(limit)s"
    ).format(group=sql.SQL(", ").join(group), where=sql.SQL(" AND ").join(where))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    total = int(rows[0].pop("total")) if rows else 0
    for row in rows[1:]:
        row.pop("total")
    return rows, total


def sla_daily(conn: psycopg.Connection, q: SlaDailyQuery, scope: Scope) -> list[dict[str, Any]]:
    """SLA figures per due day and the chosen dimensions, oldest day first, with compliance = met / decided."""
    params: dict[str, Any] = {"since": q.since, "until": q.until}
    where = [
        sql.SQL("day >= %(since)s"),
        sql.SQL("day <= %(until)s"),
        *_filter_sql(q.filters, params),
        _scope_sql(scope, params),
    ]
    group = [sql.Identifier("day"), *(sql.Identifier(d) for d in q.by)]
    sums = sql.SQL(", ").join(
        sql.SQL("sum({c})::bigint AS {c}").format(c=sql.Identifier(c))
        for c in ("due", "met", "breached", "overdue_open", "false_alarm")
    )
    query = sql.SQL(
        "SELECT {group}, {sums}, max(refreshed_at) AS refreshed_at FROM rollup_sla_daily r WHERE {where}"
        " GROUP BY {group} ORDER BY {group}"
    ).format(group=sql.SQL(", ").join(group), sums=sums, where=sql.SQL(" AND ").join(where))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    for row in rows:
        decided = row["met"] + row["breached"]
        row["compliance"] = round(row["met"] / decided, 4) if decided else None
    return rows
