"""Data access for telemetry rule state: create-and-lock the states of a batch, save them, list silent series."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from cloud_hub.telemetry.evaluator import RuleState


@dataclass(frozen=True, slots=True, order=True)
class SeriesKey:
    """One rule applied to one series of readings."""

    device_id: str
    sensor_id: str
    metric: str
    rule_id: str


def lock_states(conn: psycopg.Connection, keys: Iterable[SeriesKey]) -> dict[SeriesKey, RuleState]:
    """Create missing state rows and lock all of them until the transaction ends, in sorted order so that two
    replicas with overlapping batches never wait on each other in a cycle."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    columns = [[getattr(k, name) for k in ordered] for name in ("device_id", "sensor_id", "metric", "rule_id")]
    conn.execute(
        "INSERT INTO telemetry_rule_state (device_id, sensor_id, metric, rule_id, state)"
        " SELECT d, s, m, r, '{}'::jsonb FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS t(d, s, m, r)"
        " ORDER BY d, s, m, r ON CONFLICT DO NOTHING",
        columns,
    )
    rows = conn.execute(
        "SELECT st.device_id, st.sensor_id, st.metric, st.rule_id, st.state FROM telemetry_rule_state st"
        " JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS t(d, s, m, r)"
        " ON st.device_id = t.d AND st.sensor_id = t.s AND st.metric = t.m AND st.rule_id = t.r"
        " ORDER BY st.device_id, st.sensor_id, st.metric, st.rule_id FOR UPDATE OF st",
        columns,
    ).fetchall()
    return {SeriesKey(d, s, m, r): RuleState.from_json(state) for d, s, m, r, state in rows}


def lock_silent_states(
    conn: psycopg.Connection, rule_id: str, silent_since: datetime, limit: int = 1000
) -> dict[SeriesKey, RuleState]:
    """States of `rule_id` whose last reading is older than `silent_since` and whose incident is not open yet.
    SKIP LOCKED: a series an ingest transaction holds right now has just reported, so it is not silent."""
    rows = conn.execute(
        "SELECT device_id, sensor_id, metric, rule_id, state FROM telemetry_rule_state"
        " WHERE rule_id = %s AND last_ts < %s AND state->>'phase' IS DISTINCT FROM 'open'"
        " ORDER BY device_id, sensor_id, metric LIMIT %s FOR UPDATE SKIP LOCKED",
        (rule_id, silent_since, limit),
    ).fetchall()
    return {SeriesKey(d, s, m, r): RuleState.from_json(state) for d, s, m, r, state in rows}


def save_states(conn: psycopg.Connection, states: Mapping[SeriesKey, RuleState]) -> None:
    if not states:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE telemetry_rule_state SET state = %s, last_ts = %s, updated_at = now()"
            " WHERE device_id = %s AND sensor_id = %s AND metric = %s AND rule_id = %s",
            [
                (Jsonb(s.to_json()), s.last_ts, k.device_id, k.sensor_id, k.metric, k.rule_id)
                for k, s in sorted(states.items())
            ],
        )
