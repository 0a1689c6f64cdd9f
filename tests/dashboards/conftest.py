"""A throwaway database prepared the way compose prepares production, then seeded for the dashboards' queries.

Order as in production: the Grafana role script on the empty database (the TimescaleDB image's init step), then
the hub's migrations, then data: demo places and users, incidents and work orders from the real incident processor,
events, devices, health, configurations, telemetry and a rainstorm switch; the rollups refreshed by the hub's own
functions.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cityops.contract.messages import Event, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_CAMERA_ID, DEMO_DEVICE_ID, DEMO_GRIDS, DEMO_LOCATION, seed_demo
from cloud_hub.store.migrations import migrate
from cloud_hub.store.places import refresh_event_places
from cloud_hub.store.rollups import refresh_events_hourly
from cloud_hub.store.scratch import scratch_database
from cloud_hub.store.sla_rollup import refresh_sla_daily
from cloud_hub.workorders.state_machine import Actor
from cloud_hub.workorders.store import apply_transition
from tests.deploy.db_init import GRAFANA_ROLE_SCRIPT, run_init_script

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[2]
ROLE = "grafana_reader"

RoleScriptRunner = Callable[[str | None], subprocess.CompletedProcess[str]]


@dataclass(frozen=True, slots=True)
class GrafanaDatabase:
    admin_url: str  # superuser, for seeding
    reader_url: str  # the read-only role, as Grafana connects
    role: str
    password: str


@dataclass(frozen=True, slots=True)
class Seeded:
    now: datetime
    timescaledb: bool  # the server answers time_bucket (what Grafana sends when the data source says so)


def _run_role_script(url: str, role: str, password: str | None) -> subprocess.CompletedProcess[str]:
    # No hub role here (the hub's tables are the superuser's, as on a database from before 05-hub-role.sql): a name
    # no server has, so a real cityops_hub on the same server is never touched.
    roles = {ROLE: role, "cityops_hub": f"{role}_no_hub"}
    return run_init_script(url, GRAFANA_ROLE_SCRIPT, roles, {"GRAFANA_DB_PASSWORD": password})


@pytest.fixture(scope="module")
def grafana_db() -> Iterator[GrafanaDatabase]:
    # Read now, not at import: this file is imported before tests/conftest.py starts the suite's own server.
    admin_url = os.environ.get("CITYOPS_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    try:
        psycopg.connect(admin_url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"these tests need PostgreSQL at CITYOPS_TEST_DATABASE_URL ({admin_url}): {exc}")
    role = f"{ROLE}_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(24)
    try:
        with scratch_database(admin_url, prefix="cityops_grafana") as url:
            result = _run_role_script(url, role, password)
            assert result.returncode == 0, result.stderr
            migrate(url)
            params = conninfo_to_dict(url)
            params.update(user=role, password=password)
            yield GrafanaDatabase(url, make_conninfo(**params), role, password)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def role_script(grafana_db: GrafanaDatabase) -> RoleScriptRunner:
    """Run the role script again on the (migrated) test database with the given GRAFANA_DB_PASSWORD."""
    return lambda password: _run_role_script(grafana_db.admin_url, grafana_db.role, password)


def _event(at: datetime, kind: str, key: str, location: Mapping[str, float], seq: int) -> IngestedEvent:
    return IngestedEvent(
        DEMO_DEVICE_ID,
        Event(
            event_id=new_event_id(),
            seq=seq,
            ts=at,
            kind=kind,
            phase="start",
            incident_key=key,
            camera_id=DEMO_CAMERA_ID,
            location=dict(location),
        ),
    )


def _store_events(conn: psycopg.Connection, events: Sequence[IngestedEvent]) -> None:
    """What ingest stores in `events` (the processor is handed them), for the events rollup."""
    rows = []
    for item in events:
        e, location = item.event, item.event.location
        rows.append(
            (
                item.device_id,
                e.event_id,
                e.seq,
                e.ts,
                e.kind,
                e.phase,
                e.incident_key,
                e.camera_id,
                location.lon if location else None,
                location.lat if location else None,
                e.model_dump_json(exclude_none=True),
            )
        )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (device_id, event_id, seq, ts, kind, phase, incident_key, camera_id, lon, lat,"
            " payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
            rows,
        )


def _seed_devices(conn: psycopg.Connection, now: datetime) -> None:
    """The demo edge box (online, config 1 applied, 2 desired) with health history; a sensor seen three hours
    ago; a sensor never seen."""
    health = {
        "schema": "cityops.health/1",
        "device_id": DEMO_DEVICE_ID,
        "ts": now.isoformat(),
        "config_version": 1,
        "outbox_depth": 3,
        "inference_ms_p50": 21.5,
        "cameras": [{"camera_id": DEMO_CAMERA_ID, "status": "ok", "fps": 12.5}],
    }
    conn.execute(
        "INSERT INTO devices (device_id, kind, lon, lat, secret_hash, online, last_seen, config_version, health,"
        " agent_version) VALUES (%s, 'edge', %s, %s, 'not-a-real-hash', true, %s, 1, %s::jsonb, '0.1.0')",
        (DEMO_DEVICE_ID, DEMO_LOCATION["lon"], DEMO_LOCATION["lat"], now, json.dumps(health)),
    )
    conn.execute(
        "INSERT INTO devices (device_id, kind, secret_hash, online, last_seen) VALUES"
        " ('sensor-demo-01', 'sensor', 'not-a-real-hash', false, %s),"
        " ('sensor-demo-02', 'sensor', 'not-a-real-hash', false, NULL)",
        (now - timedelta(hours=3),),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO health (device_id, ts, payload) VALUES (%s, %s, %s::jsonb)",
            [
                (DEMO_DEVICE_ID, now - timedelta(minutes=m), json.dumps({**health, "outbox_depth": m}))
                for m in (0, 30, 90)
            ],
        )
    conn.execute(
        "INSERT INTO device_configs (device_id, version, config, actor, role) VALUES"
        " (%(d)s, 1, '{\"version\": 1}', 'tech1', 'technician'), (%(d)s, 2, '{\"version\": 2}', 'tech1', 'technician')",
        {"d": DEMO_DEVICE_ID},
    )


def _seed_telemetry(conn: psycopg.Connection, now: datetime) -> None:
    """Two water gauges over the last two hours; rainstorm mode switched on an hour ago."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO telemetry (device_id, sensor_id, metric, ts, value)"
            " VALUES ('sensor-demo-01', %s, 'water_level_cm', %s, %s)",
            [
                (sensor, now - timedelta(minutes=20 * i), 10.0 + i + n)
                for n, sensor in enumerate(("gauge-1", "gauge-2"))
                for i in range(6)
            ],
        )
    conn.execute(
        "UPDATE hub_modes SET enabled = true, changed_by = 'commander1', changed_at = %s WHERE name = 'rainstorm'",
        (now - timedelta(hours=1),),
    )
    conn.execute(
        "INSERT INTO hub_mode_changes (name, enabled, note, actor, role, at)"
        " VALUES ('rainstorm', true, 'heavy rain warning', 'commander1', 'commander', %s)",
        (now - timedelta(hours=1),),
    )


def _seed_incidents(conn: psycopg.Connection, now: datetime) -> None:
    """Through the real incident processor: two incidents 20 days old (their orders overdue by now, one then
    flagged a false alarm by the commander) and one new, all on the demo camera."""
    old, grid2 = now - timedelta(days=20), DEMO_GRIDS[1].center
    rules = RulesStore(ROOT / "rules" / "hub")
    batches = (
        (
            old,
            [
                _event(old, "illegal_parking", "k/1", DEMO_LOCATION, 1),
                _event(old, "road_occupation", "k/2", {"lon": grid2[0], "lat": grid2[1]}, 2),
            ],
        ),
        (now, [_event(now, "illegal_parking", "k/3", DEMO_LOCATION, 3)]),
    )
    for at, events in batches:
        IncidentProcessor(GridDirectory.load(conn), rules, clock=lambda at=at: at)(conn, events)
        _store_events(conn, events)
    found = conn.execute(
        "SELECT w.id FROM work_orders w JOIN incidents i ON i.id = w.incident_id WHERE i.incident_key = 'k/2'"
    ).fetchone()
    assert found is not None, "the incident processor made no work order for a seeded incident"
    apply_transition(conn, found[0], "false_alarm", Actor("commander1", "commander"), note="a shadow")


@pytest.fixture(scope="module")
def seeded(grafana_db: GrafanaDatabase) -> Seeded:
    now = datetime.now(UTC)
    with psycopg.connect(grafana_db.admin_url, autocommit=True) as conn:
        with conn.transaction():
            seed_demo(conn)
            _seed_devices(conn, now)
            _seed_telemetry(conn, now)
            _seed_incidents(conn, now)
        # Rollup first: the places refresh finds its sources in rollup_events_hourly.
        if conn.execute("SELECT to_regclass('rollup_events_hourly_data')").fetchone()[0] is not None:
            refresh_events_hourly(conn, now, lookback=timedelta(days=30))  # no continuous aggregate here
        refresh_event_places(conn, now)
        refresh_sla_daily(conn, now)
        timescaledb = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is not None
    return Seeded(now, timescaledb)


@pytest.fixture(scope="module")
def reader(grafana_db: GrafanaDatabase, seeded: Seeded) -> Iterator[psycopg.Connection]:
    """A connection as Grafana's role, after seeding."""
    with psycopg.connect(grafana_db.reader_url, autocommit=True) as conn:
        yield conn
