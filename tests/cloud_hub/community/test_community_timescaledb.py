"""The TimescaleDB Community-edition schema for real (PGlite with TimescaleDB 2.23, see pglite_server.py): the
migrations take the continuous-aggregate and compression variants, the hub's policies apply and stay put, the
policy jobs run, the rollup views count right, and idempotent inserts work on compressed chunks.

PGlite runs no background workers, so policy jobs are run by hand (`CALL run_job`); COPY crashes it, so rows go in
with INSERT (the ingest's COPY paths are not covered here).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from pglite_server import PgliteServer, connect
from psycopg import sql

from cloud_hub.core.config import HubSettings
from cloud_hub.store.capabilities import detect_capabilities
from cloud_hub.store.migrations import MigrationReport, migrate
from cloud_hub.store.places import refresh_event_places
from cloud_hub.store.policies import EVENTS_CAGG, PolicyChange, apply_policies, scheduler_handles_raw_retention
from cloud_hub.store.retention import enforce_all, raw_rules, rollup_rules
from cloud_hub.store.sla_rollup import refresh_sla_daily

pytestmark = pytest.mark.integration

RAW = ("events", "telemetry", "health", "dead_letters")
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[118.0, 32.0], [119.0, 32.0], [119.0, 33.0], [118.0, 33.0], [118.0, 32.0]]],
}


def settings(**overrides: float) -> HubSettings:
    """Hub settings with the defaults spelled out (apply_policies works on the connection it is given, never
    on database_url)."""
    values: dict[str, float] = {
        "retention_events_days": 180,
        "retention_telemetry_days": 90,
        "retention_health_days": 30,
        "retention_dead_letters_days": 90,
        "retention_rollups_days": 5 * 366,
        "compress_after_days": 7,
        "max_past_s": 30 * 24 * 3600,
    }
    values.update(overrides)
    return HubSettings(database_url="postgresql://unused", **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def migrated(pglite: PgliteServer) -> MigrationReport:
    return migrate(pglite.url)


@pytest.fixture()
def conn(pglite: PgliteServer, migrated: MigrationReport) -> Iterator[psycopg.Connection]:
    with connect(pglite.url) as c:  # PGlite serves one connection at a time: close it before the next
        yield c


def insert_events(conn: psycopg.Connection, rows: list[tuple[str, datetime, str, str | None, str | None]]) -> list:
    """(device_id, ts, kind, subtype, camera_id) as stored events, one INSERT each; returns their event ids."""
    ids = [uuid.uuid4() for _ in rows]
    for n, (event_id, (device, ts, kind, subtype, camera)) in enumerate(zip(ids, rows, strict=True)):
        conn.execute(
            "INSERT INTO events (device_id, event_id, seq, ts, kind, subtype, phase, incident_key, camera_id, payload)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'start', 'k', %s, '{}')",
            (device, event_id, n + 1, ts, kind, subtype, camera),
        )
    return ids


def hourly(conn: psycopg.Connection, device: str) -> dict[tuple, int]:
    rows = conn.execute(
        "SELECT bucket, kind, subtype, camera_id, grid_id, district, events FROM rollup_events_hourly"
        " WHERE device_id = %s",
        (device,),
    ).fetchall()
    return {tuple(r[:6]): r[6] for r in rows}


def materialized_rows(conn: psycopg.Connection) -> int:
    schema, table = conn.execute(
        "SELECT materialization_hypertable_schema, materialization_hypertable_name"
        " FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
        (EVENTS_CAGG,),
    ).fetchone()
    return conn.execute(
        sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    ).fetchone()[0]


def job_id(conn: psycopg.Connection, proc: str, relation: str) -> int:
    row = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = %s AND hypertable_name = %s",
        (proc, relation),
    ).fetchone()
    assert row is not None, f"no {proc} job on {relation}"
    return row[0]


def compressed(conn: psycopg.Connection, table: str, ts: datetime) -> bool | None:
    """Whether the table's chunk holding `ts` is compressed; None when there is no such chunk."""
    row = conn.execute(
        "SELECT is_compressed FROM timescaledb_information.chunks"
        " WHERE hypertable_name = %s AND range_start <= %s AND %s < range_end",
        (table, ts, ts),
    ).fetchone()
    return row[0] if row else None


def test_migrations_take_the_community_variants(pglite: PgliteServer, migrated: MigrationReport) -> None:
    caps = migrated.capabilities
    assert caps.timescaledb_license == "timescale"
    assert caps.hypertables and caps.continuous_aggregates and caps.compression and caps.retention_jobs
    assert not scheduler_handles_raw_retention(caps)
    assert {"0001_core.hypertables", "0003_lifecycle.continuous_aggregates", "0003_lifecycle.compression"} <= set(
        migrated.applied
    )
    assert {"0003_lifecycle.no_continuous_aggregates", "0003_lifecycle.no_hypertables"} <= set(migrated.skipped)

    again = migrate(pglite.url)  # nothing left to do, the variants included
    assert again.applied == [] and again.changed == []
    with connect(pglite.url) as conn:
        assert detect_capabilities(conn) == caps
        hypertables = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
        assert set(RAW) <= hypertables
        cagg = conn.execute(
            "SELECT materialized_only FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
            (EVENTS_CAGG,),
        ).fetchone()
        assert cagg == (False,)
        assert conn.execute("SELECT to_regclass('rollup_events_hourly_data')").fetchone() == (None,)
        compression = conn.execute(
            "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc"
            " FROM timescaledb_information.compression_settings WHERE hypertable_name = 'events'"
        ).fetchall()
        assert sorted(compression, key=lambda r: r[0]) == [("device_id", 1, None, None), ("ts", None, 1, False)]
        compressed = {
            r[0]
            for r in conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE compression_enabled"
            )
        }
        assert set(RAW) <= compressed


def test_policies_follow_the_settings_and_stay_put(conn: psycopg.Connection) -> None:
    caps = detect_capabilities(conn)
    first = apply_policies(conn, settings(), caps)
    expected = {("events", "retention", timedelta(days=180)), ("telemetry", "retention", timedelta(days=90))}
    expected |= {("health", "retention", timedelta(days=30)), ("dead_letters", "retention", timedelta(days=90))}
    expected |= {(t, "compression", timedelta(days=7)) for t in RAW}
    expected |= {(EVENTS_CAGG, "retention", timedelta(days=5 * 366))}
    expected |= {(EVENTS_CAGG, "refresh", timedelta(days=30, hours=1))}  # max_past_s + the hour at the limit
    assert {(c.relation, c.kind, c.interval) for c in first} == expected

    jobs = conn.execute(
        "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs WHERE proc_name LIKE 'policy_%'"
        " AND proc_name <> 'policy_job_stat_history_retention'"
    ).fetchall()
    assert len(jobs) == len(expected)  # one job per policy: replaced ones are gone
    refresh = [config for proc, _, config in jobs if proc == "policy_refresh_continuous_aggregate"]
    assert len(refresh) == 1 and refresh[0]["end_offset"] == "01:00:00"

    assert apply_policies(conn, settings(), caps) == []  # unchanged settings: every job keeps its schedule
    changed = apply_policies(conn, settings(retention_events_days=200, retention_rollups_days=4000), caps)
    assert set(changed) == {
        PolicyChange("events", "retention", timedelta(days=200)),
        PolicyChange(EVENTS_CAGG, "retention", timedelta(days=4000)),
    }
    assert apply_policies(conn, settings(), caps) != []  # and back, for the tests below


def test_events_rollup_counts_before_and_after_refresh(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO districts (district_id, name) VALUES ('d-1', 'Gulou')")
    conn.execute(
        "INSERT INTO grids (grid_id, district_id, name, polygon) VALUES ('g-1', 'd-1', 'Grid 1', %s)",
        (psycopg.types.json.Jsonb(SQUARE),),
    )
    conn.execute("INSERT INTO cameras (camera_id, device_id, lon, lat) VALUES ('cam-in', 'edge-r', 118.5, 32.5)")
    now = datetime.now(UTC)
    h = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    insert_events(conn, [
        ("edge-r", h + timedelta(minutes=1), "illegal_parking", None, "cam-in"),
        ("edge-r", h + timedelta(minutes=59), "illegal_parking", None, "cam-in"),
        ("edge-r", h + timedelta(minutes=3), "hygiene", "no_mask", "cam-in"),
        ("edge-r", h - timedelta(minutes=10), "illegal_parking", None, "cam-in"),
        ("edge-r", h - timedelta(minutes=20), "waterlogging", None, None),
    ])  # fmt: skip
    prev = h - timedelta(hours=1)
    expected = {
        (h, "illegal_parking", None, "cam-in", None, None): 2,
        (h, "hygiene", "no_mask", "cam-in", None, None): 1,
        (prev, "illegal_parking", None, "cam-in", None, None): 1,
        (prev, "waterlogging", None, None, None, None): 1,
    }
    # Nothing materialized yet: materialized_only = false answers from the raw events.
    assert materialized_rows(conn) == 0
    assert hourly(conn, "edge-r") == expected

    conn.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (EVENTS_CAGG,))
    assert materialized_rows(conn) >= 4
    assert hourly(conn, "edge-r") == expected

    refresh_event_places(conn, now)  # grid and district come from event_places, joined by the view
    placed = {
        (b, k, s, c, "g-1", "d-1") if c == "cam-in" else (b, k, s, c, g, d): n
        for (b, k, s, c, g, d), n in expected.items()
    }
    assert hourly(conn, "edge-r") == placed


def test_refresh_policy_counts_late_events(conn: psycopg.Connection) -> None:
    """An outbox replayed after an outage brings events for hours long materialized: the policy job recounts them."""
    apply_policies(conn, settings(), detect_capabilities(conn))
    old = (datetime.now(UTC) - timedelta(days=20)).replace(minute=0, second=0, microsecond=0)
    insert_events(conn, [("edge-late", old + timedelta(minutes=5), "illegal_parking", None, None)])
    conn.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (EVENTS_CAGG,))
    key = (old, "illegal_parking", None, None, None, None)
    assert hourly(conn, "edge-late") == {key: 1}

    insert_events(
        conn, [("edge-late", old + timedelta(minutes=6 + i), "illegal_parking", None, None) for i in range(2)]
    )
    assert hourly(conn, "edge-late") == {key: 1}  # below the watermark: only the materialized count shows
    conn.execute("CALL run_job(%s)", (job_id(conn, "policy_refresh_continuous_aggregate", EVENTS_CAGG),))
    assert hourly(conn, "edge-late") == {key: 3}


def test_sla_rollup_view(conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    due = (now - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    for status, resolved in (("closed", due - timedelta(hours=1)), ("verified", due + timedelta(hours=2)),
                             ("dispatched", None), ("false_alarm", None)):  # fmt: skip
        incident = conn.execute(
            "INSERT INTO incidents (device_id, incident_key, kind, severity, status, first_event_id, last_event_id,"
            " first_seen, last_seen) VALUES ('edge-s', gen_random_uuid()::text, 'illegal_parking', 'orange', 'open',"
            " gen_random_uuid(), gen_random_uuid(), now(), now()) RETURNING id"
        ).fetchone()[0]
        order = conn.execute(
            "INSERT INTO work_orders (incident_id, kind, severity, status, district, due_at)"
            " VALUES (%s, 'illegal_parking', 'orange', %s, 'd-1', %s) RETURNING id",
            (incident, status, due),
        ).fetchone()[0]
        if resolved is not None:
            conn.execute(
                "INSERT INTO work_order_transitions (work_order_id, from_status, to_status, actor, role, at)"
                " VALUES (%s, 'on_site', 'resolved', 'off', 'officer', %s)",
                (order, resolved),
            )
    refresh_sla_daily(conn, now)
    rows = conn.execute(
        "SELECT day, kind, district, due, met, breached, overdue_open, false_alarm FROM rollup_sla_daily"
    ).fetchall()
    assert rows == [(due.date(), "illegal_parking", "d-1", 3, 1, 2, 1, 1)]


def test_idempotent_insert_into_compressed_chunk(conn: psycopg.Connection) -> None:
    """The ingest's ON CONFLICT DO NOTHING path and the unique violation its COPY fast path relies on (COPY
    itself cannot run on PGlite), on a chunk the compression policy compressed."""
    apply_policies(conn, settings(), detect_capabilities(conn))
    ts = datetime.now(UTC) - timedelta(days=60)
    (stored,) = insert_events(conn, [("edge-c", ts, "illegal_parking", None, "cam-c")])
    conn.execute("CALL run_job(%s)", (job_id(conn, "policy_compression", "events"),))
    assert compressed(conn, "events", ts) is True

    insert = (
        "INSERT INTO events (device_id, event_id, seq, ts, kind, phase, incident_key, camera_id, payload)"
        " SELECT d, e, s, t, 'illegal_parking', 'start', 'k', 'cam-c', '{}'"
        " FROM (VALUES (%s, %s::uuid, %s::bigint, %s::timestamptz)) AS v (d, e, s, t)"
    )
    conflict = " ON CONFLICT (device_id, event_id, ts) DO NOTHING RETURNING event_id"
    assert conn.execute(insert + conflict, ("edge-c", stored, 1, ts)).fetchall() == []  # a duplicate: skipped
    fresh = uuid.uuid4()
    assert conn.execute(insert + conflict, ("edge-c", fresh, 2, ts + timedelta(seconds=1))).fetchall() == [(fresh,)]
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, ("edge-c", stored, 1, ts))
    rows = conn.execute("SELECT event_id, seq FROM events WHERE device_id = 'edge-c' ORDER BY seq").fetchall()
    assert rows == [(stored, 1), (fresh, 2)]


def test_retention_policy_drops_old_chunks(conn: psycopg.Connection) -> None:
    apply_policies(conn, settings(), detect_capabilities(conn))
    expired, kept = datetime.now(UTC) - timedelta(days=400), datetime.now(UTC) - timedelta(days=100)
    insert_events(conn, [("edge-old", expired, "hygiene", None, None), ("edge-old", kept, "hygiene", None, None)])
    assert compressed(conn, "events", expired) is False
    conn.execute("CALL run_job(%s)", (job_id(conn, "policy_retention", "events"),))
    assert compressed(conn, "events", expired) is None  # its chunk is gone
    assert conn.execute("SELECT ts FROM events WHERE device_id = 'edge-old'").fetchall() == [(kept,)]


def test_hub_retention_covers_only_the_hub_tables(conn: psycopg.Connection) -> None:
    """With TimescaleDB policies the hub's own retention job sweeps just its SLA table (the rollup table of the
    other variant does not exist here)."""
    hub = settings(retention_rollups_days=100)
    caps = detect_capabilities(conn)
    rules = rollup_rules(hub) + (raw_rules(hub) if scheduler_handles_raw_retention(caps) else [])
    now = datetime.now(UTC)
    old, recent = (now - timedelta(days=150)).date(), (now - timedelta(days=50)).date()
    for day in (old, recent):
        conn.execute(
            "INSERT INTO rollup_sla_daily_data (day, kind, district, due, met, breached, overdue_open, false_alarm)"
            " VALUES (%s, 'retention_probe', '', 1, 1, 0, 0, 0)",
            (day,),
        )
    results = enforce_all(conn, rules, now)
    assert [(r.table, r.rows_deleted) for r in results] == [("rollup_sla_daily_data", 1)]
    days = conn.execute("SELECT day FROM rollup_sla_daily_data WHERE kind = 'retention_probe'").fetchall()
    assert days == [(recent,)]
