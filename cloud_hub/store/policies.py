"""TimescaleDB background policies (Community edition) set from the hub's settings: retention of the raw
hypertables and of the events rollup, compression of the raw hypertables, and the refresh window of the events
rollup (wide enough for the oldest event the ingest accepts, so late events are counted too).

Applied at hub start under an advisory lock, and only where a policy differs from the settings, so replicas
starting together do not fight and an unchanged policy keeps its schedule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from cloud_hub.core.config import HubSettings
from cloud_hub.store.capabilities import Capabilities
from cloud_hub.store.retention import hypertable_names, raw_rules

log = logging.getLogger(__name__)

POLICY_LOCK_KEY = 0x6369_7479_706F_6C  # any fixed number shared by every replica
EVENTS_CAGG = "rollup_events_hourly_cagg"
# Same as the policy 0003_lifecycle.continuous_aggregates.sql creates; only the start offset follows the settings.
CAGG_MIN_START = timedelta(days=3)
CAGG_END_OFFSET = timedelta(hours=1)
CAGG_SCHEDULE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PolicyChange:
    relation: str
    kind: str  # "retention" | "compression" | "refresh" (interval: how far back the refresh reaches)
    interval: timedelta


def cagg_refresh_start(settings: HubSettings) -> timedelta:
    """How far back the events rollup's refresh policy looks. A refresh only recomputes the hours that changed,
    so reaching back as far as the ingest accepts events (max_past_s, whole hours plus the hour an event at the
    limit falls into) costs little, and an outbox replayed after a long outage is counted; never less than the
    3 days the migration starts with."""
    hours = -(-int(settings.max_past_s) // 3600) + 1
    return max(CAGG_MIN_START, timedelta(hours=hours))


def _current(conn: psycopg.Connection, proc: str, relation: str | list[str], key: str) -> timedelta | None:
    names = [relation] if isinstance(relation, str) else relation
    row = conn.execute(
        "SELECT (config ->> %s)::interval FROM timescaledb_information.jobs"
        " WHERE proc_name = %s AND hypertable_name = ANY(%s)",
        (key, proc, names),
    ).fetchone()
    return row[0] if row else None


def _set_retention(conn: psycopg.Connection, relation: str, keep: timedelta) -> bool:
    if _current(conn, "policy_retention", relation, "drop_after") == keep:
        return False
    conn.execute("SELECT remove_retention_policy(%s::regclass, if_exists => TRUE)", (relation,))
    conn.execute("SELECT add_retention_policy(%s::regclass, drop_after => %s)", (relation, keep))
    return True


def _set_compression(conn: psycopg.Connection, relation: str, after: timedelta) -> bool:
    if _current(conn, "policy_compression", relation, "compress_after") == after:
        return False
    conn.execute("SELECT remove_compression_policy(%s::regclass, if_exists => TRUE)", (relation,))
    conn.execute("SELECT add_compression_policy(%s::regclass, compress_after => %s)", (relation, after))
    return True


def _cagg_hypertable(conn: psycopg.Connection) -> str | None:
    """The continuous aggregate's materialization hypertable (None without it). TimescaleDB lists the
    aggregate's jobs under this name in older releases and under the view's name in newer ones (2.23 does)."""
    row = conn.execute(
        "SELECT materialization_hypertable_name FROM timescaledb_information.continuous_aggregates"
        " WHERE view_name = %s",
        (EVENTS_CAGG,),
    ).fetchone()
    return row[0] if row else None


def apply_policies(conn: psycopg.Connection, settings: HubSettings, caps: Capabilities) -> list[PolicyChange]:
    """Make the TimescaleDB policies match the settings; returns what changed (nothing without the capability)."""
    changes: list[PolicyChange] = []
    if not (caps.retention_jobs or caps.compression):
        return changes
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (POLICY_LOCK_KEY,))
        hypertables = hypertable_names(conn)
        for rule in raw_rules(settings):
            if rule.table not in hypertables:
                continue
            if caps.retention_jobs and _set_retention(conn, rule.table, rule.keep):
                changes.append(PolicyChange(rule.table, "retention", rule.keep))
            after = timedelta(days=settings.compress_after_days)
            if caps.compression and _set_compression(conn, rule.table, after):
                changes.append(PolicyChange(rule.table, "compression", after))
        materialized = _cagg_hypertable(conn) if caps.continuous_aggregates else None
        cagg_names = [EVENTS_CAGG, materialized] if materialized is not None else []
        if materialized is not None:
            start = cagg_refresh_start(settings)
            if _current(conn, "policy_refresh_continuous_aggregate", cagg_names, "start_offset") != start:
                conn.execute(
                    "SELECT remove_continuous_aggregate_policy(%s::regclass, if_exists => TRUE)", (EVENTS_CAGG,)
                )
                conn.execute(
                    "SELECT add_continuous_aggregate_policy(%s::regclass, start_offset => %s,"
                    " end_offset => %s, schedule_interval => %s)",
                    (EVENTS_CAGG, start, CAGG_END_OFFSET, CAGG_SCHEDULE),
                )
                changes.append(PolicyChange(EVENTS_CAGG, "refresh", start))
        if caps.retention_jobs and materialized is not None:
            keep = timedelta(days=settings.retention_rollups_days)
            current = _current(conn, "policy_retention", cagg_names, "drop_after")
            if current != keep:
                conn.execute("SELECT remove_retention_policy(%s::regclass, if_exists => TRUE)", (EVENTS_CAGG,))
                conn.execute("SELECT add_retention_policy(%s::regclass, drop_after => %s)", (EVENTS_CAGG, keep))
                changes.append(PolicyChange(EVENTS_CAGG, "retention", keep))
    for change in changes:
        log.info("TimescaleDB %s policy on %s set to %s", change.kind, change.relation, change.interval)
    return changes


def scheduler_handles_raw_retention(caps: Capabilities) -> bool:
    """Whether the hub's scheduler must delete old raw rows itself (no TimescaleDB retention policies)."""
    return not caps.retention_jobs
