"""A small city for the read tests, made the way the hub makes it: devices report state and health, events go
through validation, storage and the real IncidentProcessor, evidence is stored by the evidence code, and work
orders move by the work-order store's checked and audited `apply_transition`.

Places: the demo district nj-gulou (grids 01-06, officer1..6 on duty, cameras cam-demo-01..06) and a second
district nj-xuanwu with one grid (officer7) and camera cam-xw-01.

Users: admin; commander1 (no districts: the whole city); cmd-gulou and cmd-xuanwu (one district each); officer1,
officer2, officer3, officer7 (their grids); officer9 (no grid: only what is assigned to them); tech1.

Incidents (key: where, what happens to its work order):
- car-1  grid 01, cam-demo-01, model A, plate text, evidence; resolved by officer1, verified by commander1
- car-2  grid 02, cam-demo-02, model B; flagged false_alarm by commander1
- car-3  grid 03, cam-demo-03, model A; reassigned by commander1 to officer9, still open
- fault  grid 01, cam-demo-01, camera_fault with evidence; open
- water  nj-xuanwu, cam-xw-01, 20 days ago, red; open and overdue
and one event no incident took up (`lonely`, road_occupation at cam-xw-01, placed in nj-xuanwu by event_places).
Devices: edge-demo-01 online, edge-xw-01 stale, edge-off-01 offline, edge-new-01 never seen.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from cityops.contract.messages import new_event_id
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import provision_device
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.evidence.factory import open_evidence_store
from cloud_hub.evidence.records import put_evidence
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.ingest.storage import store_batch
from cloud_hub.ingest.validation import ValidationLimits, validate_message
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_GRIDS, DEMO_LOCATION, DEMO_PASSWORD
from cloud_hub.workorders.state_machine import Actor
from cloud_hub.workorders.store import apply_transition

RULES = Path(__file__).resolve().parents[3] / "rules" / "hub"
JPEG = b"\xff\xd8\xff\xe0" + b"reads" * 100
XUANWU = {
    "district_id": "nj-xuanwu",
    "grid_id": "nj-xuanwu-01",
    "west": 118.81,
    "south": 32.05,
    "east": 118.82,
    "north": 32.06,
}
XUANWU_CENTER = {"lon": 118.815, "lat": 32.055}
MODEL_A = {"name": "yolov8n-parking", "version": "1", "sha256": "a" * 64}
MODEL_B = {"name": "yolov8n-parking", "version": "2", "sha256": "b" * 64}
MODEL_C = {"name": "unet-water", "sha256": "c" * 64}
PLATE = {"text": "苏A12345", "confidence": 0.93}
USERS = {  # username -> role (the demo seed makes commander1, officer1..6 and tech1)
    "cmd-gulou": "commander",
    "cmd-xuanwu": "commander",
    "officer7": "officer",
    "officer9": "officer",
}


class _Broker:
    """A broker without dynamic security: provisioning stores the device, no broker account is made."""

    def available(self) -> bool:
        return False

    def provision_device(self, device_id: str, password: str) -> None:
        return None


@dataclass
class World:
    now: datetime
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # username -> Authorization header
    incidents: dict[str, int] = field(default_factory=dict)  # key -> incident id
    orders: dict[str, int] = field(default_factory=dict)  # key -> work order id
    events: dict[str, str] = field(default_factory=dict)  # name -> event id

    def as_(self, username: str) -> dict[str, str]:
        return self.headers[username]


def _grid_center(n: int) -> dict[str, float]:
    lon, lat = DEMO_GRIDS[n - 1].center
    return {"lon": lon, "lat": lat}


def _places(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO districts (district_id, name, city) VALUES ('nj-xuanwu', 'Xuanwu', 'Nanjing')")
    w, s, e, n = XUANWU["west"], XUANWU["south"], XUANWU["east"], XUANWU["north"]
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    conn.execute(
        "INSERT INTO grids (grid_id, district_id, name, polygon) VALUES (%s, %s, 'Xuanwu grid 1', %s)",
        (XUANWU["grid_id"], XUANWU["district_id"], json.dumps({"type": "Polygon", "coordinates": [ring]})),
    )
    for username, role in USERS.items():
        ensure_user(conn, username, DEMO_PASSWORD, role, display_name=username)
    conn.execute(
        "INSERT INTO rosters (roster_id, grid_id, username) VALUES ('xw/officer7', %s, 'officer7')",
        (XUANWU["grid_id"],),
    )
    conn.execute(
        "INSERT INTO user_districts (username, district_id) VALUES ('cmd-gulou', 'nj-gulou'),"
        " ('cmd-xuanwu', 'nj-xuanwu')"
    )
    conn.execute(
        "INSERT INTO cameras (camera_id, device_id, name, lon, lat, district)"
        " VALUES ('cam-xw-01', 'edge-xw-01', 'Xuanwu underpass', %s, %s, 'nj-xuanwu')",
        (XUANWU_CENTER["lon"], XUANWU_CENTER["lat"]),
    )
    conn.execute("UPDATE cameras SET device_id = 'edge-demo-01' WHERE camera_id IN ('cam-demo-02', 'cam-demo-03')")
    for device_id in ("edge-demo-01", "edge-xw-01", "edge-off-01", "edge-new-01"):
        provision_device(conn, _Broker(), device_id, "edge")


def _message(device_id: str, suffix: str, body: dict[str, Any], now: datetime) -> Any:
    payload = json.dumps(body, default=str).encode()
    message = validate_message(f"cityops/v1/dev/{device_id}/{suffix}", payload, now, ValidationLimits())
    assert not message.dead_letters, message.dead_letters
    return message


def _ingest(
    conn: psycopg.Connection, device_id: str, events: list[dict[str, Any]], clock: datetime, incidents: bool = True
) -> None:
    """Events as the device sends them, stored and processed (or only stored) as ingest does."""
    batch = {"schema": "cityops.events/1", "device_id": device_id, "events": events}
    processors = (
        [IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES), clock=lambda: clock)] if incidents else []
    )
    store_batch(conn, [_message(device_id, "events", batch, datetime.now(UTC))], processors, datetime.now(UTC))


def _event(
    name: str,
    world: World,
    seq: int,
    ts: datetime,
    kind: str,
    phase: str,
    key: str,
    camera: str,
    location: dict[str, float],
    **extra: Any,
) -> dict[str, Any]:
    world.events[name] = event_id = new_event_id()
    return {
        "event_id": event_id,
        "seq": seq,
        "ts": ts.isoformat(),
        "kind": kind,
        "phase": phase,
        "incident_key": key,
        "camera_id": camera,
        "location": location,
        **extra,
    }


def _devices(conn: psycopg.Connection, now: datetime) -> None:
    """State and health as devices report them: online and fresh, online but silent (stale), offline."""
    for device_id, online, health_at in (
        ("edge-demo-01", True, now),
        ("edge-xw-01", True, now - timedelta(minutes=10)),
        ("edge-off-01", False, now - timedelta(hours=2)),
    ):
        health = {"schema": "cityops.health/1", "device_id": device_id, "ts": health_at.isoformat()}
        state = {"online": online, "ts": now.isoformat()}
        store_batch(
            conn, [_message(device_id, "health", health, now), _message(device_id, "state", state, now)], [], now
        )


def _events(conn: psycopg.Connection, world: World) -> None:
    t = world.now - timedelta(minutes=10)
    parking = {"subtype": "no_parking_zone", "zone_id": "z1", "rule": {"id": "no-parking", "version": 2}}
    evidence = {"evidence": {"sha256": hashlib.sha256(JPEG).hexdigest(), "bytes": len(JPEG)}}
    _ingest(
        conn,
        "edge-demo-01",
        [
            _event(
                "car-1/start",
                world,
                1,
                t,
                "illegal_parking",
                "start",
                "car-1",
                "cam-demo-01",
                DEMO_LOCATION,
                confidence=0.9,
                model=MODEL_A,
                plate=PLATE,
                measurements={"dwell_s": 120},
                **parking,
                **evidence,
            ),
            _event(
                "car-1/update",
                world,
                2,
                t + timedelta(seconds=60),
                "illegal_parking",
                "update",
                "car-1",
                "cam-demo-01",
                DEMO_LOCATION,
                model=MODEL_A,
                measurements={"dwell_s": 180},
                plates=[{"text": "苏A12345"}, {"text": "苏B54321"}],
                **parking,
            ),
            _event(
                "car-2/start",
                world,
                3,
                t,
                "illegal_parking",
                "start",
                "car-2",
                "cam-demo-02",
                _grid_center(2),
                model=MODEL_B,
                **parking,
            ),
            _event(
                "car-3/start",
                world,
                4,
                t,
                "illegal_parking",
                "start",
                "car-3",
                "cam-demo-03",
                _grid_center(3),
                model=MODEL_A,
                **parking,
            ),
            _event(
                "fault/start",
                world,
                5,
                t,
                "camera_fault",
                "start",
                "fault/cam-demo-01",
                "cam-demo-01",
                DEMO_LOCATION,
                subtype="blur",
                **evidence,
            ),
        ],
        world.now,
    )
    past = world.now - timedelta(days=20)
    _ingest(
        conn,
        "edge-xw-01",
        [
            _event(
                "water/start",
                world,
                1,
                past,
                "waterlogging",
                "start",
                "water-1",
                "cam-xw-01",
                XUANWU_CENTER,
                model=MODEL_C,
                rule={"id": "water-depth", "version": 1},
                measurements={"water_depth_cm": 45.0},
            ),
        ],
        past,
    )
    _ingest(
        conn,
        "edge-xw-01",
        [
            _event(
                "lonely", world, 2, t, "road_occupation", "start", "stall-1", "cam-xw-01", XUANWU_CENTER, plate=PLATE
            ),
        ],
        world.now,
        incidents=False,
    )
    conn.execute(
        "INSERT INTO event_places (device_id, camera_id, grid_id, district)"
        " VALUES ('edge-xw-01', 'cam-xw-01', 'nj-xuanwu-01', 'nj-xuanwu')"
    )


def _evidence(conn: psycopg.Connection, settings: HubSettings, world: World) -> None:
    store = open_evidence_store(settings)
    sha = hashlib.sha256(JPEG).hexdigest()
    for name in ("car-1/start", "fault/start"):
        put_evidence(conn, store, world.events[name], "edge-demo-01", JPEG, sha)


def _login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _move(conn: psycopg.Connection, world: World, key: str, by: str, role: str, to: str, **kw: Any) -> None:
    """A transition as the work-order API makes it (the store's `apply_transition`, checked and audited)."""
    apply_transition(conn, world.orders[key], to, Actor(by, role), **kw)


def build_world(client: TestClient, settings: HubSettings) -> World:
    world = World(now=datetime.now(UTC))
    with psycopg.connect(settings.database_url) as conn:
        _places(conn)
    with psycopg.connect(settings.database_url) as conn:
        _devices(conn, world.now)
        _events(conn, world)
        _evidence(conn, settings, world)
        for key, incident_id, order_id in conn.execute(
            "SELECT i.incident_key, i.id, w.id FROM incidents i LEFT JOIN work_orders w ON w.incident_id = i.id"
        ).fetchall():
            name = {"fault/cam-demo-01": "fault", "water-1": "water"}.get(key, key)
            world.incidents[name] = incident_id
            world.orders[name] = order_id
    demo = (
        "commander1",
        "cmd-gulou",
        "cmd-xuanwu",
        "officer1",
        "officer2",
        "officer3",
        "officer7",
        "officer9",
        "tech1",
    )
    users = {"admin": "admin-test-pw"} | dict.fromkeys(demo, DEMO_PASSWORD)
    world.headers = {username: _login(client, username, password) for username, password in users.items()}
    with psycopg.connect(settings.database_url) as conn:
        for to in ("accepted", "on_site", "resolved"):
            _move(conn, world, "car-1", "officer1", "officer", to)
        _move(conn, world, "car-1", "commander1", "commander", "verified")
        _move(conn, world, "car-2", "commander1", "commander", "false_alarm", note="a delivery van loading")
        _move(conn, world, "car-3", "commander1", "commander", "reassigned", assignee="officer9")
    return world
