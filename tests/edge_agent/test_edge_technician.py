"""What the technician's web app needs from the box, without a model: the committed camera-rules schema, remote
configs that add cameras (validation), the immediate health report after a config, and the `probe` command."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from edge_testkit import FakeLink
from technician_testkit import shared_media

from cityops.contract.messages import Command, HealthSnapshot, dump, utc_now
from cityops.contract.topics import Topic
from edge_agent.comms.outbox import Outbox
from edge_agent.config import ConfigError, parse_config
from edge_agent.control import Controller
from edge_agent.health import HealthReporter
from edge_agent.remote import schema
from edge_agent.remote.commands import RemoteCommands
from edge_agent.remote.device_config import plan_remote_config
from edge_agent.remote.probe import ProbeError, fourcc_text, parse_probe_args, probe_source, redact

CLASSES = ("person", "car", "truck", "bus", "motorcycle")
ZONES = [{"id": "zone-a", "polygon": [[0.1234, 0.2345], [0.8765, 0.2345], [0.8765, 0.3857], [0.1234, 0.3857]]}]
RULES = {"version": 1, "zones": ZONES, "analytics": [{"type": "parking", "zones": ["zone-a"]}]}


def wait_until(predicate, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


# ---- the shared schema ------------------------------------------------------------------------------------------


def test_committed_camera_rules_schema_is_what_the_models_generate() -> None:
    committed = schema.SCHEMA_FILE.read_text(encoding="utf-8") if schema.SCHEMA_FILE.is_file() else ""
    assert committed == schema.render(), (
        f"{schema.SCHEMA_FILE} differs from the edge agent's models: run `python -m edge_agent.remote.schema --write`"
        " and commit the file"
    )
    assert schema.main(["--check"]) == 0
    generated = schema.camera_rules_schema()
    assert generated["$id"] == schema.SCHEMA_ID
    analytics = generated["properties"]["analytics"]["items"]["discriminator"]["mapping"]
    assert sorted(analytics) == ["kitchen", "parking", "road_occupation", "waterlogging"]
    assert "marks" in generated["$defs"]["GaugeConfig"]["properties"]
    assert generated["dependentRequired"]["fps"] == ["source"]


# ---- remote configs that add cameras ---------------------------------------------------------------------------


def payload(*cameras: dict, version: int = 3) -> bytes:
    return json.dumps({"version": version, "cameras": list(cameras)}).encode()


def test_a_camera_with_a_source_is_planned_for_adding() -> None:
    street = str(shared_media("mmdet_demo.jpg"))
    new = {"camera_id": "cam-new", "source": street, "name": "Gate", "fps": 3, **RULES}
    plan = plan_remote_config(payload({"camera_id": "cam-1", **RULES}, new), {"cam-1": "/dev/x"}, CLASSES)
    assert plan.version == 3 and set(plan.rules) == {"cam-1", "cam-new"} and list(plan.new_cameras) == ["cam-new"]
    assert plan.new_cameras["cam-new"].camera() == {"camera_id": "cam-new", "source": street, "name": "Gate",
                                                    "fps": 3.0}  # fmt: skip
    assert plan.rules["cam-new"].zones[0].polygon[0] == (0.1234, 0.2345)  # 4 decimals kept
    # A running camera may repeat its own source; its rules change.
    same = plan_remote_config(payload({**new, "version": 2}), {"cam-new": street}, CLASSES)
    assert same.new_cameras == {} and same.rules["cam-new"].version == 2


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ({"camera_id": "cam-9"}, "'cam-9' is not a camera of this device (cameras: cam-1); give its `source`"),
        ({"camera_id": "cam-1", "source": "rtsp://10.0.0.9/other"}, "cannot be changed remotely"),
        ({"camera_id": "cam-9", "source": "/no/such/file.mp4"}, "cameras[0].source: source '/no/such/file.mp4'"),
        ({"camera_id": "cam-9", "source": "videos/gate.mp4"}, "cameras[0].source: String should match pattern"),
        ({"camera_id": "cam-9", "source": "usb:zero"}, "cameras[0].source: String should match pattern"),
        ({"camera_id": "cam-1", "fps": 5}, "fps describe a camera to add and need its source"),
        (
            {
                "camera_id": "cam-9",
                "source": "rtsp://10.0.0.9/x",
                "analytics": [{"type": "parking", "zones": ["zone-a"], "classes": ["spaceship"]}],
            },
            "['spaceship'] are not classes of the loaded model",
        ),
    ],
)
def test_remote_camera_refusals(camera: dict, message: str) -> None:
    entry = {**RULES, **camera}
    with pytest.raises(ConfigError) as err:
        plan_remote_config(payload(entry), {"cam-1": "rtsp://10.0.0.1/main"}, CLASSES)
    assert message in str(err.value)
    assert "10.0.0.1" not in str(err.value)  # a running source (it may carry a password) is never echoed


# ---- health at once after a config -----------------------------------------------------------------------------


def _health(config_version: int | None, config_error: str | None = None) -> HealthSnapshot:
    snapshot = HealthSnapshot(device_id="edge-tech-01", ts=utc_now(), config_version=config_version)
    snapshot.config_error = config_error
    return snapshot


def test_config_outcome_publishes_health_at_once(tmp_path: Path) -> None:
    link = FakeLink()
    holder: dict[str, Controller] = {}
    reporter = HealthReporter(
        link, lambda: _health(holder["c"].config_version, holder["c"].config_error), interval_s=3600
    )

    def apply(data: bytes) -> int:
        version = json.loads(data)["version"]
        if version == 5:
            raise ConfigError("config: cameras[0].camera_id: 'cam-9' is not a camera of this device")
        return version

    ctl = Controller(
        link, Outbox(tmp_path / "o.sqlite"), on_ack=lambda _: None, apply_config=apply,
        on_config_change=reporter.report_soon,
    )  # fmt: skip
    holder["c"] = ctl
    reporter.start()
    try:
        # The first periodic report is 5 s after start: only report_soon can explain one before.
        ctl.on_message(Topic.CONFIG, b'{"version": 4, "cameras": []}')
        assert wait_until(lambda: link.messages(Topic.HEALTH)), "no health snapshot after the config was applied"
        first = json.loads(link.messages(Topic.HEALTH)[0])
        assert first["config_version"] == 4 and "config_error" not in first
        ctl.on_message(Topic.CONFIG, b'{"version": 5, "cameras": []}')
        assert wait_until(lambda: len(link.messages(Topic.HEALTH)) >= 2), "no health snapshot after a refusal"
        refused = json.loads(link.messages(Topic.HEALTH)[1])
        assert refused["config_version"] == 4 and "cam-9" in refused["config_error"]
    finally:
        reporter.stop()


def test_a_failing_config_callback_never_breaks_the_controller(tmp_path: Path) -> None:
    def broken() -> None:
        raise RuntimeError("health not built yet")

    ctl = Controller(FakeLink(), Outbox(tmp_path / "o.sqlite"), on_ack=lambda _: None, on_config_change=broken)
    ctl.on_message(Topic.CONFIG, b'{"version": 2}')
    assert ctl.config_version == 2


# ---- probe ------------------------------------------------------------------------------------------------------


def test_probe_reads_a_picture_and_a_video() -> None:
    still = probe_source(str(shared_media("mmdet_demo.jpg")), 10)
    assert (still.width, still.height, still.codec, still.fps) == (640, 427, "jpeg", None)
    video = probe_source(str(shared_media("mmdet_demo.mp4")), 10)
    assert (video.width, video.height) == (1280, 720) and video.fps and video.codec


def test_probe_reasons(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    with pytest.raises(ProbeError, match=r"^not a video"):
        probe_source(str(text), 5)
    with pytest.raises(ProbeError, match=r"^unreachable: .*no such file"):
        probe_source(str(tmp_path / "missing.mp4"), 5)
    with pytest.raises(ProbeError, match=r"^unreachable: rtsp://\*\*\*@127.0.0.1"):
        probe_source("rtsp://admin:secret@127.0.0.1:1/stream", 5)  # nothing listens on port 1


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: a camera that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                held.append(server.accept()[0])
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()
    # The probe's helper ends on its own once the connection is gone; never leave it inside OpenCV at exit.
    assert wait_until(lambda: not any(t.name == "probe" and t.is_alive() for t in threading.enumerate()), 30)


def test_probe_gives_up_after_its_timeout(silent_server: int) -> None:
    with pytest.raises(ProbeError, match=r"^no frame within 0.5 s"):
        probe_source(f"http://127.0.0.1:{silent_server}/live.mjpg", 0.5)


def test_probe_args_and_helpers() -> None:
    assert parse_probe_args({"source": "usb:0"}).timeout_s == 10
    refused = [
        ({"source": "usb:0", "timeout_s": 31}, "timeout_s"),
        ({}, "source"),
        ({"source": "cam.mp4"}, "source"),
        ({"source": "usb:0", "camera_id": "a/b"}, "camera_id"),
    ]
    for bad, field in refused:
        with pytest.raises(ValueError, match=f"bad probe args: {field}"):
            parse_probe_args(bad)
    assert fourcc_text(float(int.from_bytes(b"avc1", "little"))) == "avc1" and fourcc_text(0.0) is None
    assert redact("rtsp://u:p@ss@host/x and http://h/y") == "rtsp://***@host/x and http://h/y"


class StubHub(BaseHTTPRequestHandler):
    puts: ClassVar[list[tuple[str, dict, bytes]]] = []
    status: ClassVar[int] = 201

    def do_PUT(self) -> None:
        StubHub.puts.append((self.path, dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(StubHub.status)
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[str]:
    StubHub.puts, StubHub.status = [], 201
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class FakeAgent:
    """Just what RemoteCommands needs (the AgentControls protocol): no model, no cameras."""

    def __init__(self, hub_url: str, tmp_path: Path) -> None:
        self.config = parse_config({
            "device_id": "edge-tech-01", "mqtt_url": "mqtt://edge-tech-01:s3cret@127.0.0.1:1", "hub_url": hub_url,
            "data_dir": str(tmp_path), "models_dir": str(tmp_path),
            "cameras": [{"camera_id": "cam-1", "source": "usb:0", "rules": "r.yaml"}],
        })  # fmt: skip
        self.blurrer = None
        self.plate_blur = None
        self.cameras: dict = {}
        self.outbox = None


def test_probe_command_answers_the_format_and_uploads_the_frame(hub: str, tmp_path: Path) -> None:
    commands = RemoteCommands(FakeAgent(hub, tmp_path))  # type: ignore[arg-type]
    try:
        args = {"source": str(shared_media("mmdet_demo.mp4")), "camera_id": "cam-gate", "timeout_s": 20}
        detail = json.loads(commands.handlers()["probe"](Command(cmd_id="c-probe", name="probe", args=args)))
        path, headers, body = StubHub.puts[-1]
        assert path == "/api/v1/devices/edge-tech-01/snapshots/c-probe" and headers["X-Camera-Id"] == "cam-gate"
        assert body[:3] == b"\xff\xd8\xff" and headers["Authorization"].startswith("Basic ")
        assert (detail["width"], detail["height"]) == (1280, 720) and detail["fps"] > 0 and detail["codec"]
        assert detail["snapshot"]["sha256"] == headers["X-Content-SHA256"] and detail["snapshot"]["width"] == 1280

        StubHub.status = 500  # the camera works even when the upload does not: ok, with the reason
        still = {"source": str(shared_media("mmdet_demo.jpg"))}
        detail = json.loads(commands.probe(Command(cmd_id="c-probe-2", name="probe", args=still)))
        assert detail["width"] == 640 and "HTTP 500" in detail["snapshot_error"] and "snapshot" not in detail
        assert "X-Camera-Id" not in StubHub.puts[-1][1]  # a probe for no camera yet
        with pytest.raises(ProbeError, match=r"^unreachable"):
            commands.probe(Command(cmd_id="c-probe-3", name="probe", args={"source": "rtsp://127.0.0.1:1/x"}))
    finally:
        commands.close()


def test_health_snapshot_fields_survive_the_wire() -> None:
    data = json.loads(dump(_health(7, "version 8: refused")))
    assert data["config_version"] == 7 and data["config_error"] == "version 8: refused"
