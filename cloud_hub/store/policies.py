"""TimescaleDB background policies (Community edition) set from the hub's settings: retention of the raw
hypertables and of the events rollup, compression of the raw hypertables.

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


@dataclass(frozen=True, slots=True)
class PolicyChange:
    relation: str
    kind: str  # "retention" | "compression"
    interval: timedelta


def _current(conn: psycopg.Connection, proc: str, relation: str, key: str) -> timedelta | None:
    row = conn.execute(
        "SELECT (config ->> %s)::interval FROM timescaledb_information.jobs"
        " WHERE proc_name = %s AND hypertable_name = %s",
        (key, proc, relation),
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
    """Jobs of a continuous aggregate are listed under its materialization hypertable's name."""
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
        if caps.retention_jobs and materialized is not None:
            keep = timedelta(days=settings.retention_rollups_days)
            current = _current(conn, "policy_retention", materialized, "drop_after")
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
