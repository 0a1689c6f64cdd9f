"""End to end, all real: an edge agent process plays a street picture as a fixed camera through YOLOX-Nano with a
no-parking zone; its illegal-parking event travels over the real broker into the hub, is stored exactly once, becomes
an incident and a work order dispatched to the officer of the right grid, and the device's outbox drains on the ack.
Runs once on TimescaleDB and once on plain PostgreSQL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from e2e_support import REPO, SHARED, Api, wait_for

from tests.shared_assets import require_shared

pytestmark = pytest.mark.e2e

DEMO_RULES = REPO / "rules" / "edge" / "demo-street.yaml"


def _edge_config(stack: Any, credentials: dict[str, Any], data_dir: Path) -> Path:
    location = stack.info["demo_location"]
    config = {
        "device_id": credentials["device_id"],
        "mqtt_url": f"mqtt://{credentials['username']}:{credentials['password']}@"
        f"{credentials['mqtt_host']}:{credentials['mqtt_port']}",
        "hub_url": credentials["hub_url"],
        "data_dir": str(data_dir),
        "models_dir": str(SHARED / "models"),
        "model": "yolox_nano",
        "health_interval_s": 5,
        "cameras": [
            {
                "camera_id": "cam-e2e-01",
                "source": str(SHARED / "media" / "mmdet_demo.jpg"),
                "fps": 2,
                "location": location,
                "rules": str(DEMO_RULES),
            }
        ],
    }
    path = data_dir.parent / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _outbox_depth(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "outbox.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


def test_parked_car_becomes_a_work_order_for_the_grid_officer(stack: Any, tmp_path: Path) -> None:
    require_shared(SHARED / "models" / "yolox_nano.onnx")
    info = stack.info
    device_id = f"edge-e2e-{stack.database}"
    credentials = stack.provision(device_id)
    assert {"device_id", "mqtt_host", "mqtt_port", "username", "password", "hub_url"} <= credentials.keys()
    assert credentials["username"] == device_id

    data_dir = tmp_path / "edge-data"
    config_path = _edge_config(stack, credentials, data_dir)
    log = (tmp_path / "edge.log").open("w")
    edge = subprocess.Popen(
        [sys.executable, "-m", "cityops.cli", "edge", "run", "--config", str(config_path)],
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    admin = Api(info["hub_url"], info["admin_user"], info["admin_password"])
    try:
        # This device's own incident: other tests on the same stack leave orders of their own (one walked to closed).
        incident = wait_for(
            "an illegal-parking incident with its work order",
            lambda: [
                i
                for i in admin.get("/api/v1/incidents", device_id=device_id, kind="illegal_parking")["data"]
                if i["work_order"]
            ],
            timeout_s=120,
        )[0]
        order = admin.get(f"/api/v1/work-orders/{incident['work_order']['id']}")
        assert order["status"] == "dispatched"
        assert order["assignee"] == "officer1"  # demo_location lies in officer1's grid
        assert order["due_at"] is not None

        incidents = admin.get("/api/v1/incidents", kind="illegal_parking", device_id=device_id)["data"]
        assert incidents and {i["device_id"] for i in incidents} == {device_id}
        assert len({i["incident_key"] for i in incidents}) == len(incidents)

        officer1 = Api(info["hub_url"], "officer1", "cityops-demo")
        officer2 = Api(info["hub_url"], "officer2", "cityops-demo")
        assert order["id"] in {o["id"] for o in officer1.get("/api/v1/work-orders")["data"]}
        assert order["id"] not in {o["id"] for o in officer2.get("/api/v1/work-orders")["data"]}  # not their grid

        # The device gets its ack and forgets what the hub holds.
        wait_for("the edge outbox to drain", lambda: _outbox_depth(data_dir) == 0, timeout_s=60)

        with psycopg.connect(info["database_url"]) as conn:
            rows = conn.execute(
                "SELECT event_id, count(*) FROM events WHERE device_id = %s GROUP BY event_id", (device_id,)
            ).fetchall()
            assert rows and all(count == 1 for _, count in rows), "an event was stored more than once"
            seqs = [
                r[0] for r in conn.execute("SELECT seq FROM events WHERE device_id = %s ORDER BY seq", (device_id,))
            ]
            assert seqs == list(range(1, len(seqs) + 1)), "seq must be contiguous from 1 with no duplicates"
            acked = conn.execute("SELECT acked_seq FROM device_seq WHERE device_id = %s", (device_id,)).fetchone()[0]
            assert acked == seqs[-1]
            start_event = conn.execute(
                "SELECT event_id FROM events WHERE device_id = %s AND phase = 'start' ORDER BY seq LIMIT 1",
                (device_id,),
            ).fetchone()[0]

        picture = admin.client.get(f"/api/v1/evidence/{start_event}")
        assert picture.status_code == 200
        assert picture.content[:3] == b"\xff\xd8\xff", "evidence must be a JPEG"

        listed = admin.get("/api/v1/events", device_id=device_id, limit=1000)
        assert listed["count"] >= len(seqs)  # the agent keeps running: later updates may have arrived

        devices = {d["device_id"]: d for d in admin.get("/api/v1/devices")["data"]}
        assert devices[device_id]["online"] is True
    finally:
        edge.send_signal(signal.SIGTERM)
        try:
            edge.wait(timeout=30)
        except subprocess.TimeoutExpired:
            edge.kill()
        log.close()
        admin.close()
    assert edge.returncode == 0, (tmp_path / "edge.log").read_text()[-3000:]
