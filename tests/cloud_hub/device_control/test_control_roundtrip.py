"""One real round trip: a private broker with dynamic security, the whole hub app (ingest on) serving HTTP, and a
real edge agent (real model, the still street picture as its camera) provisioned through the API.

cmd `ping` -> cmd_result -> status ok; cmd `snapshot` -> JPEG uploaded by the device -> GET .../snapshots/latest;
PUT config -> retained `config` -> applied by the agent -> reported in health -> GET config in sync."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
import uvicorn

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings
from cloud_hub.stack.mosquitto import start_isolated_broker
from cloud_hub.stack.processes import free_tcp_port
from tests.shared_assets import require_shared

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
STREET = SHARED / "media" / "mmdet_demo.jpg"
ZONES = [{"id": "zone-a", "polygon": [[0.24, 0.28], [0.84, 0.28], [0.84, 0.385], [0.24, 0.385]]}]
RULES = {"version": 1, "zones": ZONES,
         "analytics": [{"type": "parking", "id": "parking.file", "zones": ["zone-a"], "dwell_s": 3600}]}  # fmt: skip
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 90.0) -> T:
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, HubSettings]]:
    require_shared(SHARED / "models" / "yolox_nano.onnx", STREET)
    tmp = tmp_path_factory.mktemp("roundtrip")
    broker = start_isolated_broker(tmp / "broker")
    port = free_tcp_port()
    settings = HubSettings(
        database_url=database_url,
        mqtt_url=broker.hub_url,
        http_port=port,
        evidence_dir=tmp / "evidence",
        rules_dir=REPO / "rules",
        scheduler=False,
        jwt_secret="roundtrip-secret-with-enough-length-0",
    )
    # Keep-alive longer than any pause of this test: on a loaded box the client may reuse a connection just as
    # uvicorn's default 5 s timeout closes it (seen as "Connection reset by peer").
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, timeout_keep_alive=120)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for("the hub to serve", lambda: server.started, 60)
        yield f"http://127.0.0.1:{port}", settings
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        broker.stop()


def test_commands_snapshot_and_config_round_trip(hub: tuple[str, HubSettings], tmp_path: Path) -> None:
    from edge_agent.app import EdgeAgent
    from edge_agent.config import parse_config

    hub_url, settings = hub
    api = httpx.Client(base_url=hub_url, timeout=60)
    token = api.post("/api/v1/auth/token", data={"username": "admin", "password": "cityops-admin"})
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    device_id = "edge-roundtrip-01"
    provisioned = api.post("/api/v1/devices", json={"device_id": device_id, "kind": "edge"}).json()
    assert provisioned["broker_provisioned"] is True, provisioned

    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps(RULES))
    mqtt = settings.mqtt
    config = parse_config(
        {
            "device_id": device_id,
            "mqtt_url": f"mqtt://{device_id}:{quote(provisioned['password'], safe='')}@{mqtt.host}:{mqtt.port}",
            "hub_url": hub_url,
            "data_dir": str(tmp_path / "data"),
            "models_dir": str(SHARED / "models"),
            "health_interval_s": 0.5,
            "cameras": [{"camera_id": "cam-rt", "source": str(STREET), "fps": 5, "rules": str(rules)}],
        }
    )
    agent = EdgeAgent(config)
    agent.start()
    try:
        wait_for("the device online", lambda: api.get(f"/api/v1/devices/{device_id}").json()["online"])
        commands = f"/api/v1/devices/{device_id}/commands"

        def result(cmd_id: str) -> dict[str, Any] | None:
            status = api.get(f"{commands}/{cmd_id}").json()
            return status if status["status"] != "pending" else None

        ping = api.post(commands, json={"name": "ping"}).json()["cmd_id"]
        assert wait_for("the ping result", lambda: result(ping))["detail"] == "pong"

        wait_for("a camera frame", lambda: agent.cameras["cam-rt"].pipeline.last_frame is not None)
        snap = api.post(commands, json={"name": "snapshot", "args": {"camera_id": "cam-rt"}}).json()["cmd_id"]
        answer = wait_for("the snapshot result", lambda: result(snap))
        assert answer["status"] == "ok", answer
        detail = json.loads(answer["detail"])
        picture = api.get(f"/api/v1/devices/{device_id}/snapshots/latest?camera_id=cam-rt")
        assert picture.status_code == 200 and picture.headers["x-snapshot-cmd-id"] == snap
        assert hashlib.sha256(picture.content).hexdigest() == detail["sha256"] and detail["width"] == 640

        live = [{"type": "parking", "id": "parking.live", "zones": ["zone-a"], "dwell_s": 1800}]
        camera = {"camera_id": "cam-rt", "version": 2, "zones": ZONES, "analytics": live}
        put = api.put(f"/api/v1/devices/{device_id}/config", json={"cameras": [camera]})
        assert put.status_code == 200, put.text
        version = put.json()["desired"]["version"]
        config_url = f"/api/v1/devices/{device_id}/config"
        synced = wait_for("the config applied", lambda: api.get(config_url).json()["in_sync"])
        assert synced and agent.controller.config_version == version
        assert agent.rules["cam-rt"].analytics[0].id == "parking.live"
    finally:
        agent.stop()
        api.close()
