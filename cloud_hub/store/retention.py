"""Retention done by the hub itself, where TimescaleDB retention policies are not available.

Per table, everything older than its window goes:
- hypertables (TimescaleDB Apache or Community edition): `drop_chunks` removes whole chunks below the cutoff
  (cheap: files, not rows), then the rows left below the cutoff in the boundary chunk are deleted,
- plain tables: deleted in bounded batches, each its own transaction, so a sweep never holds long locks or
  builds a huge transaction; an interrupted sweep just continues next time.
Either way exactly the rows with a time before `now - keep` are gone afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from cloud_hub.core.config import HubSettings

DEFAULT_BATCH_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class RetentionRule:
    table: str
    time_column: str
    keep: timedelta

    def cutoff(self, now: datetime) -> datetime:
        return now - self.keep


@dataclass(frozen=True, slots=True)
class RetentionResult:
    table: str
    cutoff: datetime
    chunks_dropped: int
    rows_deleted: int

    def describe(self) -> str:
        return f"{self.table}: {self.chunks_dropped} chunks dropped, {self.rows_deleted} rows deleted"


def raw_rules(settings: HubSettings) -> list[RetentionRule]:
    """The time-series tables the ingest writes (TimescaleDB policies can take these over)."""
    days = timedelta(days=1)
    return [
        RetentionRule("events", "ts", days * settings.retention_events_days),
        RetentionRule("telemetry", "ts", days * settings.retention_telemetry_days),
        RetentionRule("health", "ts", days * settings.retention_health_days),
        RetentionRule("dead_letters", "received_at", days * settings.retention_dead_letters_days),
    ]


def rollup_rules(settings: HubSettings) -> list[RetentionRule]:
    """The hub-maintained rollup tables (the continuous aggregate, where there is one, has its own policy)."""
    keep = timedelta(days=settings.retention_rollups_days)
    return [
        RetentionRule("rollup_events_hourly_data", "bucket", keep),
        RetentionRule("rollup_sla_daily_data", "day", keep),
    ]


def existing_tables(conn: psycopg.Connection, names: Iterable[str]) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
        (list(names),),
    ).fetchall()
    return {r[0] for r in rows}


def hypertable_names(conn: psycopg.Connection) -> set[str]:
    """Hypertables of this schema; empty without TimescaleDB."""
    if conn.execute("SELECT to_regclass('timescaledb_information.hypertables') IS NULL").fetchone()[0]:
        return set()
    rows = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema()"
    ).fetchall()
    return {r[0] for r in rows}


def _drop_chunks(conn: psycopg.Connection, table: str, cutoff: datetime) -> int:
    with conn.transaction():
        rows = conn.execute("SELECT drop_chunks(%s::regclass, older_than => %s)", (table, cutoff)).fetchall()
    return len(rows)


def _delete_batch(conn: psycopg.Connection, rule: RetentionRule, cutoff: datetime, batch_rows: int) -> int:
    """Delete up to about `batch_rows` of the oldest rows below the cutoff (rows sharing the boundary time go
    together); an index on the time column makes both statements range scans, on plain tables and hypertables."""
    table, column = sql.Identifier(rule.table), sql.Identifier(rule.time_column)
    with conn.transaction():
        boundary = conn.execute(
            sql.SQL("SELECT {c} FROM {t} WHERE {c} < %s ORDER BY {c} OFFSET %s LIMIT 1").format(c=column, t=table),
            (cutoff, batch_rows),
        ).fetchone()
        upper = boundary[0] if boundary is not None else cutoff
        condition = sql.SQL("{c} < %s").format(c=column) if boundary is None else sql.SQL("{c} <= %s").format(c=column)
        return conn.execute(
            sql.SQL("DELETE FROM {t} WHERE {cond} AND {c} < %s").format(t=table, cond=condition, c=column),
            (upper, cutoff),
        ).rowcount


def enforce(
    conn: psycopg.Connection,
    rule: RetentionRule,
    now: datetime,
    *,
    hypertable: bool,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> RetentionResult:
    """Remove what is older than the rule's window from one table. Needs a connection outside a transaction
    (autocommit), since every step commits on its own."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    cutoff = rule.cutoff(now)
    chunks = _drop_chunks(conn, rule.table, cutoff) if hypertable else 0
    deleted = 0
    while True:
        n = _delete_batch(conn, rule, cutoff, batch_rows)
        deleted += n
        if n == 0:
            break
    return RetentionResult(rule.table, cutoff, chunks, deleted)


def enforce_all(
    conn: psycopg.Connection, rules: Iterable[RetentionRule], now: datetime, batch_rows: int = DEFAULT_BATCH_ROWS
) -> list[RetentionResult]:
    """`enforce` for every rule whose table exists (a rollup table of the other variant may not)."""
    rules = list(rules)
    present = existing_tables(conn, [r.table for r in rules])
    hypertables = hypertable_names(conn)
    return [
        enforce(conn, rule, now, hypertable=rule.table in hypertables, batch_rows=batch_rows)
        for rule in rules
        if rule.table in present
    ]
