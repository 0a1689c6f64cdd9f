"""IncidentProcessor against a real PostgreSQL: incidents, work orders, routing, audit trail, demo seed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cityops.contract.messages import Event, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.devices.registry import provision_device
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_CAMERA_ID, DEMO_GRIDS, DEMO_LOCATION, seed_demo
from cloud_hub.workorders import store as work_orders
from cloud_hub.workorders.state_machine import Actor

RULES_DIR = Path(__file__).resolve().parents[3] / "rules" / "hub"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)  # idempotent: a second run must neither fail nor duplicate
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM grids), (SELECT count(*) FROM rosters), (SELECT count(*) FROM cameras)"
        ).fetchone()
    assert counts == (6, 6, 6)
    return database_url


@pytest.fixture
def conn(seeded: str) -> Iterator[psycopg.Connection]:
    # Each test works in one transaction that is rolled back, so tests do not see each other's incidents.
    with psycopg.connect(seeded) as connection:
        yield connection
        connection.rollback()


@pytest.fixture
def processor(conn: psycopg.Connection) -> IncidentProcessor:
    return IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES_DIR), clock=lambda: NOW)


def ingested(phase: str, key: str, at_s: float, seq: int, device: str = "edge-demo-01", **kw: Any) -> IngestedEvent:
    event = Event(
        event_id=new_event_id(),
        seq=seq,
        ts=NOW + timedelta(seconds=at_s),
        kind=kw.pop("kind", "illegal_parking"),
        subtype="no_parking_zone",
        phase=phase,
        incident_key=key,
        camera_id=kw.pop("camera_id", DEMO_CAMERA_ID),
        zone_id="zone-a",
        **kw,
    )
    return IngestedEvent(device_id=device, event=event)


def rows(conn: psycopg.Connection, query: str, *params: Any) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def test_start_in_grid_one_creates_one_incident_and_a_work_order_dispatched_to_officer1(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    processor(
        conn,
        [
            ingested(
                "start",
                "cam-demo-01/zone-a/track-1",
                0,
                1,
                location=DEMO_LOCATION,
                measurements={"dwell_s": 11.0},
                confidence=0.9,
            )
        ],
    )
    incidents = rows(conn, "SELECT id, status, severity, grid_id, district, event_count FROM incidents")
    assert len(incidents) == 1
    incident_id, status, severity, grid_id, district, count = incidents[0]
    assert (status, severity, grid_id, district, count) == ("open", "yellow", "nj-gulou-01", "nj-gulou", 1)
    orders = rows(conn, "SELECT id, status, assignee, due_at FROM work_orders WHERE incident_id = %s", incident_id)
    assert len(orders) == 1
    order_id, order_status, assignee, due = orders[0]
    assert (order_status, assignee) == ("dispatched", "officer1")
    assert due == NOW + timedelta(minutes=60)  # illegal_parking yellow: 60 working minutes, Monday 10:00
    audit = rows(
        conn,
        "SELECT from_status, to_status, actor, role FROM work_order_transitions WHERE work_order_id = %s ORDER BY id",
        order_id,
    )
    assert audit == [
        (None, "reported", "system", "system"),
        ("reported", "registered", "system", "system"),
        ("registered", "dispatched", "system", "system"),
    ]


def test_updates_merge_into_the_same_incident_and_end_ends_it(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    key = "cam-demo-01/zone-a/track-2"
    processor(conn, [ingested("start", key, 0, 1, measurements={"dwell_s": 10.0})])
    # One batch with an update past the orange threshold and the end, delivered out of order.
    processor(conn, [ingested("end", key, 2000, 3), ingested("update", key, 1900, 2, measurements={"dwell_s": 1900.0})])
    incidents = rows(conn, "SELECT status, severity, event_count, measurements, ended_at FROM incidents")
    assert incidents == [("ended", "orange", 3, {"dwell_s": 1900.0}, NOW + timedelta(seconds=2000))]
    assert rows(conn, "SELECT count(*), min(severity) FROM work_orders") == [(1, "orange")]  # follows the incident


def test_event_without_location_uses_the_camera_location(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    processor(conn, [ingested("start", "cam-demo-01/zone-a/track-3", 0, 1)])
    assert rows(conn, "SELECT lon, lat, grid_id FROM incidents") == [
        (DEMO_LOCATION["lon"], DEMO_LOCATION["lat"], "nj-gulou-01")
    ]
    assert rows(conn, "SELECT status, assignee FROM work_orders") == [("dispatched", "officer1")]


def test_outside_every_grid_stays_registered_and_unassigned(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    processor(
        conn, [ingested("start", "far/away", 0, 1, camera_id="cam-unknown", location={"lon": 100.0, "lat": 20.0})]
    )
    assert rows(conn, "SELECT grid_id FROM incidents") == [(None,)]
    assert rows(conn, "SELECT status, assignee FROM work_orders") == [("registered", None)]


def test_large_batch_and_a_restart_of_the_same_key(conn: psycopg.Connection, processor: IncidentProcessor) -> None:
    batch = []
    for n in range(200):
        key = f"cam-demo-01/zone-a/track-{100 + n}"
        batch += [
            ingested("start", key, 0, 3 * n + 1),
            ingested("update", key, 5, 3 * n + 2),
            ingested("end", key, 9, 3 * n + 3),
        ]
    batch.append(ingested("start", "cam-demo-01/zone-a/track-100", 60, 10_000))  # the same car again
    processor(conn, batch)
    assert rows(conn, "SELECT status, count(*) FROM incidents GROUP BY status ORDER BY status") == [
        ("ended", 200),
        ("open", 1),
    ]
    # The 200 cars came and went inside the batch: their orders wait for review (reported -> registered, no
    # deadline); the car there now is dispatched (reported -> registered -> dispatched).
    assert rows(conn, "SELECT status, count(*), count(due_at) FROM work_orders GROUP BY status ORDER BY status") == [
        ("dispatched", 1, 1),
        ("registered", 200, 0),
    ]
    assert rows(conn, "SELECT count(*) FROM work_order_transitions") == [(200 * 2 + 3,)]


def test_resolved_work_order_is_verified_by_the_system_when_the_situation_ends(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    key = "cam-demo-01/zone-a/track-4"
    processor(conn, [ingested("start", key, 0, 1)])
    (order_id,) = rows(conn, "SELECT id FROM work_orders")[0]
    officer = Actor("officer1", "officer")
    for to in ("accepted", "on_site", "resolved"):
        work_orders.apply_transition(conn, order_id, to, officer, note=f"{to} by test")
    processor(conn, [ingested("end", key, 300, 2)])
    assert rows(conn, "SELECT status FROM work_orders") == [("verified",)]
    last = rows(
        conn,
        "SELECT from_status, to_status, actor FROM work_order_transitions"
        " WHERE work_order_id = %s ORDER BY id DESC LIMIT 1",
        order_id,
    )
    assert last == [("resolved", "verified", "system")]


def test_audit_trail_is_append_only(conn: psycopg.Connection, processor: IncidentProcessor) -> None:
    processor(conn, [ingested("start", "cam-demo-01/zone-a/track-5", 0, 1)])
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("UPDATE work_order_transitions SET note = 'rewritten'")


class _NoBroker:
    def provision_device(self, device_id: str, password: str) -> None:
        """Broker credentials are not part of this test."""


def test_sensor_without_camera_uses_the_device_location(conn: psycopg.Connection, processor: IncidentProcessor) -> None:
    lon, lat = DEMO_GRIDS[1].center
    provision_device(conn, _NoBroker(), "wl-sensor-12", "sensor", lon=lon, lat=lat)
    processor(
        conn,
        [
            ingested(
                "start",
                "wl-12/depth",
                0,
                1,
                device="wl-sensor-12",
                camera_id=None,
                kind="waterlogging",
                measurements={"water_depth_cm": 45.0},
            )
        ],
    )
    assert rows(conn, "SELECT grid_id, severity FROM incidents") == [("nj-gulou-02", "red")]
    assert rows(conn, "SELECT status, assignee, due_at FROM work_orders") == [
        ("dispatched", "officer2", NOW + timedelta(minutes=30))  # red: 30 minutes around the clock
    ]
