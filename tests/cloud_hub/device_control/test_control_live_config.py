"""Hub -> MQTT -> edge -> hub for a configuration, without a model or a camera: a private broker with dynamic
security, the whole hub app (ingest on) serving HTTP, and the edge agent's own link, controller, config validation and
health reporter for a device provisioned through the API.

The device's health interval is an hour and its first snapshot is awaited before the config is pushed, so only the
immediate report after applying (or refusing) can bring the hub in sync: the technician sees the outcome at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
import uvicorn

from cityops.contract.messages import HealthSnapshot
from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings
from cloud_hub.stack.mosquitto import start_isolated_broker
from cloud_hub.stack.processes import free_tcp_port
from edge_agent.capture.reader import CameraStatus
from edge_agent.comms.mqtt_link import MqttLink
from edge_agent.comms.outbox import Outbox
from edge_agent.config import MqttUrl
from edge_agent.control import Controller
from edge_agent.health import HealthReporter, ProcessStats, build_health
from edge_agent.remote.device_config import RemotePlan, plan_remote_config

REPO = Path(__file__).resolve().parents[3]
POLYGON = [[0.1234, 0.2345], [0.8765, 0.2345], [0.8765, 0.3857], [0.1234, 0.3857]]
CAMERA = {"camera_id": "cam-1", "version": 2, "zones": [{"id": "zone-a", "polygon": POLYGON}],
          "analytics": [{"type": "parking", "zones": ["zone-a"]}]}  # fmt: skip
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 60.0) -> T:
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
    tmp = tmp_path_factory.mktemp("live-config")
    broker = start_isolated_broker(tmp / "broker")
    port = free_tcp_port()
    settings = HubSettings(
        database_url=database_url,
        mqtt_url=broker.hub_url,
        http_port=port,
        evidence_dir=tmp / "evidence",
        rules_dir=REPO / "rules",
        scheduler=False,
        jwt_secret="live-config-secret-with-enough-length",
    )
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


class EdgeSide:
    """The agent's control plane for one device: MQTT link, controller (real config validation), health reporter."""

    def __init__(self, device_id: str, url: MqttUrl, data_dir: Path) -> None:
        self.device_id = device_id
        self.plans: list[RemotePlan] = []
        self.link = MqttLink(
            device_id, url, agent_version="test", on_message=lambda s, p: self.control.on_message(s, p)
        )
        self.health = HealthReporter(self.link, self._snapshot, interval_s=3600)
        self.control = Controller(
            self.link, Outbox(data_dir / "outbox.sqlite"), on_ack=lambda _seq: None, apply_config=self._apply,
            on_config_change=self.health.report_soon,
        )  # fmt: skip

    def _apply(self, payload: bytes) -> int:
        plan = plan_remote_config(payload, {"cam-1": "rtsp://192.0.2.1/main"}, ("car", "truck", "bus", "motorcycle"))
        self.plans.append(plan)
        return plan.version

    def _snapshot(self) -> HealthSnapshot:
        snapshot = build_health(
            device_id=self.device_id, uptime_s=1.0, agent_version="test", config_version=self.control.config_version,
            cameras=[CameraStatus("cam-1", "ok", 2.0, 0)], inference_ms_p50=None, outbox_depth=0,
            process=ProcessStats(), models=[],
        )  # fmt: skip
        snapshot.config_error = self.control.config_error
        return snapshot

    def start(self) -> None:
        self.link.start()
        self.health.start()

    def stop(self) -> None:
        self.health.stop()
        self.link.stop()


def test_config_round_trip_keeps_decimals_and_reports_the_outcome_at_once(
    hub: tuple[str, HubSettings], tmp_path: Path
) -> None:
    hub_url, settings = hub
    api = httpx.Client(base_url=hub_url, timeout=60)
    token = api.post("/api/v1/auth/token", data={"username": "admin", "password": "cityops-admin"})
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    device_id = "edge-live-config-01"
    provisioned = api.post("/api/v1/devices", json={"device_id": device_id, "kind": "edge"}).json()
    assert provisioned["broker_provisioned"] is True, provisioned
    mqtt = settings.mqtt
    url = MqttUrl.parse(f"mqtt://{device_id}:{quote(provisioned['password'], safe='')}@{mqtt.host}:{mqtt.port}")
    edge = EdgeSide(device_id, url, tmp_path)
    edge.start()
    device_url, config_url = f"/api/v1/devices/{device_id}", f"/api/v1/devices/{device_id}/config"
    try:
        wait_for("the first health snapshot", lambda: api.get(device_url).json()["health_at"])

        put = api.put(config_url, json={"cameras": [CAMERA]})
        assert put.status_code == 200, put.text
        version = put.json()["desired"]["version"]
        state: dict[str, Any] = wait_for("the applied version at the hub", lambda: _in_sync(api, config_url))
        assert state["applied_version"] == version and state["config_error"] is None
        (plan,) = edge.plans
        assert [list(p) for p in plan.rules["cam-1"].zones[0].polygon] == POLYGON  # 4 decimals, end to end

        refused = api.put(config_url, json={"cameras": [{**CAMERA, "camera_id": "cam-9"}]})
        assert refused.status_code == 200, refused.text
        error = wait_for("the refusal at the hub", lambda: api.get(config_url).json()["config_error"])
        assert f"version {version + 1}" in error and "'cam-9' is not a camera of this device" in error
        after = api.get(config_url).json()
        assert after["applied_version"] == version and after["in_sync"] is False
        faults = api.get(device_url).json()["faults"]
        assert faults and "cam-9" in faults[0]
    finally:
        edge.stop()
        api.close()


def _in_sync(api: httpx.Client, config_url: str) -> dict[str, Any] | None:
    state = api.get(config_url).json()
    return state if state["in_sync"] else None
