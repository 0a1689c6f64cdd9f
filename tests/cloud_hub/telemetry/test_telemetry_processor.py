"""Telemetry rules on a real database, through the ingest hook (store_batch with telemetry processors): a rising
water level opens one incident with a work order dispatched to the grid's officer, receding ends it; rainstorm
mode tightens the threshold; the missing-data sweep opens and the next reading ends a gap."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cityops.contract.messages import format_ts
from cityops.contract.topics import Topic, device_topic
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.ingest.storage import store_batch
from cloud_hub.ingest.validation import ValidationLimits, validate_message
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_LOCATION
from cloud_hub.telemetry.modes import get_mode, set_mode
from cloud_hub.telemetry.processor import TelemetryProcessor
from cloud_hub.telemetry.rules import TelemetryRulesStore
from cloud_hub.telemetry.watch import sweep_once
from cloud_hub.workorders.sla import due_at

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
DEVICE = "wl-sensor-12"
KEY = f"telemetry/{DEVICE}/wl-12/water_level_cm/level"
RULES = """
version: 3
rules:
  - id: level
    metric: water_level_cm
    kind: waterlogging
    subtype: water_level_high
    threshold:
      compare: ">="
      value: 15
      for_s: 60
      clear_value: 10
      clear_for_s: 120
      rainstorm: {value: 8, clear_value: 5, for_s: 0}
    severity:
      default: blue
      bands: [{at: 15, severity: yellow}, {at: 25, severity: orange}, {at: 40, severity: red}]
  - id: silent
    metric: water_level_cm
    kind: facility_fault
    missing_data: {after_s: 600}
"""


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    # One transaction per test, rolled back: tests do not see each other's incidents, states or modes.
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "INSERT INTO devices (device_id, kind, lon, lat, secret_hash) VALUES (%s, 'sensor', %s, %s, 'x')",
            (DEVICE, DEMO_LOCATION["lon"], DEMO_LOCATION["lat"]),
        )
        yield connection
        connection.rollback()


@pytest.fixture
def processor(conn: psycopg.Connection, tmp_path: Path) -> TelemetryProcessor:
    (tmp_path / "telemetry.yaml").write_text(RULES)
    hub_rules = RulesStore(REPO / "rules" / "hub")
    incidents = IncidentProcessor(GridDirectory.load(conn), hub_rules, clock=lambda: NOW)
    return TelemetryProcessor(TelemetryRulesStore(tmp_path / "telemetry.yaml"), incidents, hub_rules, lambda: NOW)


def ingest(conn: psycopg.Connection, processor: TelemetryProcessor, *series: tuple[float, float]) -> int:
    """One telemetry message of (minutes before NOW, water level) readings through the real ingest storage."""
    payload = {
        "schema": "cityops.telemetry/1",
        "device_id": DEVICE,
        "readings": [
            {"sensor_id": "wl-12", "metric": "water_level_cm", "ts": format_ts(NOW - timedelta(minutes=m)), "value": v}
            for m, v in series
        ],
    }
    message = validate_message(
        device_topic(DEVICE, Topic.TELEMETRY), json.dumps(payload).encode(), NOW, ValidationLimits()
    )
    outcome = store_batch(conn, [message], [], NOW, telemetry_processors=[processor])
    assert outcome.processor_errors == []
    return outcome.readings_stored


def incidents(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT incident_key, kind, subtype, status, severity, grid_id, measurements->>'water_level_cm'"
        " FROM incidents ORDER BY id"
    ).fetchall()


def test_rising_level_opens_one_incident_dispatched_to_the_grid_officer_and_receding_ends_it(
    conn: psycopg.Connection, processor: TelemetryProcessor
) -> None:
    assert ingest(conn, processor, (30, 5.0), (29, 9.0), (28, 14.0), (27, 16.0)) == 4
    assert incidents(conn) == []  # 16 cm for less than 60 s: pending
    ingest(conn, processor, (26, 18.0), (25, 27.0))  # held 60 s at 18 cm: opens yellow; 27 cm: orange
    assert incidents(conn) == [(KEY, "waterlogging", "water_level_high", "open", "orange", "nj-gulou-01", "27.0")]
    # Resent readings are already stored: nothing new happens.
    assert ingest(conn, processor, (26, 18.0), (25, 27.0)) == 0
    ingest(conn, processor, (24, 31.0), (23, 12.0))  # deeper: refreshed; 12 cm is above the clear line
    assert incidents(conn) == [(KEY, "waterlogging", "water_level_high", "open", "orange", "nj-gulou-01", "31.0")]

    (order,) = conn.execute("SELECT status, assignee, kind, severity, due_at FROM work_orders").fetchall()
    assert order == (
        "dispatched",
        "officer1",
        "waterlogging",
        "orange",
        due_at(processor_sla(), "waterlogging", "orange", NOW),
    )

    ingest(conn, processor, (22, 9.0), (21, 8.0), (19, 7.0))  # below 10 cm for 180 s >= clear_for_s
    assert incidents(conn) == [(KEY, "waterlogging", "water_level_high", "ended", "orange", "nj-gulou-01", "7.0")]
    assert conn.execute("SELECT count(*) FROM work_orders").fetchone() == (1,)
    (state,) = conn.execute("SELECT state->>'phase' FROM telemetry_rule_state WHERE rule_id = 'level'").fetchone()
    assert state == "idle"


def processor_sla() -> Any:
    return RulesStore(REPO / "rules" / "hub").current.sla


def test_severity_bands_set_the_new_work_orders_deadline(
    conn: psycopg.Connection, processor: TelemetryProcessor
) -> None:
    ingest(conn, processor, (10, 45.0), (9, 45.0))
    assert [row[4] for row in incidents(conn)] == ["red"]
    (order,) = conn.execute("SELECT severity, due_at FROM work_orders").fetchall()
    assert order == ("red", due_at(processor_sla(), "waterlogging", "red", NOW))


def test_rainstorm_mode_tightens_the_threshold(conn: psycopg.Connection, processor: TelemetryProcessor) -> None:
    ingest(conn, processor, (20, 9.0), (18, 9.0), (16, 9.0))
    assert incidents(conn) == []
    state = set_mode(conn, "rainstorm", True, "typhoon warning", "commander1", "commander")
    assert state.enabled and state.changed_by == "commander1"
    ingest(conn, processor, (15, 9.0))  # 9 cm >= 8 cm, no hold time in rainstorm mode
    assert incidents(conn) == [(KEY, "waterlogging", "water_level_high", "open", "blue", "nj-gulou-01", "9.0")]
    assert conn.execute("SELECT actor, enabled, note FROM hub_mode_changes").fetchall() == [
        ("commander1", True, "typhoon warning")
    ]
    assert get_mode(conn, "rainstorm").enabled


def test_missing_data_sweep_opens_a_gap_incident_once_and_the_next_reading_ends_it(
    conn: psycopg.Connection, processor: TelemetryProcessor
) -> None:
    ingest(conn, processor, (30, 3.0))
    assert processor.sweep_missing(conn, NOW - timedelta(minutes=25)) == 0  # silent 5 min < 10 min
    assert sweep_once(conn, processor) == 1  # at NOW: silent 30 min
    assert sweep_once(conn, processor) == 0  # already open
    silent_key = f"telemetry/{DEVICE}/wl-12/water_level_cm/silent"
    rows = conn.execute("SELECT incident_key, kind, subtype, status, severity, grid_id FROM incidents").fetchall()
    assert rows == [(silent_key, "facility_fault", "missing_data", "open", "yellow", "nj-gulou-01")]
    assert conn.execute("SELECT assignee FROM work_orders").fetchall() == [("officer1",)]
    ingest(conn, processor, (0, 3.0))
    assert conn.execute("SELECT status FROM incidents WHERE incident_key = %s", (silent_key,)).fetchone() == ("ended",)
