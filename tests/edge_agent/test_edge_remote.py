"""Remote control of a running agent (real model, still street camera): live config, snapshot, model_update,
restart_pipeline. A stub HTTP server stands in for the hub's snapshot and model endpoints."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from edge_testkit import MODELS_DIR, FakeLink, FakeUploader, shared_file
from face_judge import assert_faces_blurred

from cityops.contract.messages import HealthSnapshot, dump
from cityops.contract.model_release import public_key_text, sign_release
from cityops.contract.topics import Topic
from edge_agent.app import EdgeAgent
from edge_agent.config import parse_config

ZONES = [{"id": "zone-a", "polygon": [[0.24, 0.28], [0.84, 0.28], [0.84, 0.385], [0.24, 0.385]]}]
RULES = {
    "version": 1,
    "zones": ZONES,
    "analytics": [{"type": "parking", "id": "parking.file", "zones": ["zone-a"], "dwell_s": 3600}],
}


def wait_until(predicate, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class StubHub(BaseHTTPRequestHandler):
    puts: ClassVar[list[tuple[str, dict, bytes]]] = []
    files: ClassVar[dict[str, bytes]] = {}

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        StubHub.puts.append((self.path, dict(self.headers), body))
        self.send_response(201)
        self.end_headers()

    def do_GET(self) -> None:
        data = StubHub.files.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.end_headers()
        if data is not None:
            self.wfile.write(data)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def hub():
    StubHub.puts, StubHub.files = [], {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def make_agent(
    tmp_path: Path, hub_url: str, picture: str = "mmdet_demo.jpg", **settings: object
) -> tuple[EdgeAgent, FakeLink]:
    street = shared_file("media", picture)
    shared_file("models", "yolox_nano.onnx")
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps(RULES))
    config = parse_config(
        {
            "device_id": "edge-remote-01",
            "mqtt_url": "mqtt://edge-remote-01:s3cret@127.0.0.1:1",
            "hub_url": hub_url,
            "data_dir": str(tmp_path / "data"),
            "models_dir": str(MODELS_DIR),
            "health_interval_s": 3600,
            "cameras": [{"camera_id": "cam-r1", "source": str(street), "fps": 5, "rules": str(rules)}],
            # The stub hub is plain http on loopback; releases are signed with this test's key.
            "model_updates": {"trusted_keys": [TRUSTED], "allow_http": True, "watch_frames": 10},
            **settings,
        }
    )
    link = FakeLink()
    return EdgeAgent(config, link_factory=lambda *_: link, uploader=FakeUploader()), link


SIGNING_KEY = Ed25519PrivateKey.generate()
TRUSTED = public_key_text(SIGNING_KEY.public_key())


def release(url: str, data: bytes, key: Ed25519PrivateKey = SIGNING_KEY, name: str = "yolox_nano") -> dict:
    """A model_update's args as the hub sends them: the release signed."""
    sha = hashlib.sha256(data).hexdigest()
    signature, key_id = sign_release(key, name, "2", sha, len(data))
    return {"name": name, "version": "2", "url": url, "sha256": sha, "size": len(data), "signature": signature,
            "key_id": key_id}  # fmt: skip


def results(link: FakeLink) -> dict[str, dict]:
    return {r["cmd_id"]: r for r in (json.loads(p) for p in link.messages(Topic.CMD_RESULT))}


def command(agent: EdgeAgent, link: FakeLink, cmd_id: str, name: str, args: dict | None = None) -> dict:
    agent.controller.on_message(Topic.CMD, json.dumps({"cmd_id": cmd_id, "name": name, "args": args or {}}).encode())
    assert wait_until(lambda: cmd_id in results(link), 60), f"no cmd_result for {name}"
    return results(link)[cmd_id]


def test_live_config_swaps_rules_refuses_bad_ones_and_survives_restart(tmp_path: Path, hub: str) -> None:
    agent, link = make_agent(tmp_path, hub)
    agent.start()
    try:
        assert wait_until(lambda: agent.cameras["cam-r1"].pipeline.last_frame is not None)
        assert link.messages(Topic.EVENTS) == []  # the file's dwell is an hour
        live = {
            "version": 7,
            "cameras": [
                {
                    "camera_id": "cam-r1",
                    "version": 2,
                    "zones": ZONES,
                    "analytics": [{"type": "parking", "id": "parking.live", "zones": ["zone-a"], "dwell_s": 0.5}],
                }
            ],
        }
        agent.controller.on_message(Topic.CONFIG, json.dumps(live).encode())
        assert agent.controller.config_version == 7 and agent.rules["cam-r1"].version == 2
        assert wait_until(lambda: link.messages(Topic.EVENTS)), "the live rules produced no event"
        batch = json.loads(link.messages(Topic.EVENTS)[0])
        assert batch["events"][0]["rule"]["id"] == "parking.live"

        bad = json.loads(json.dumps(live))
        bad["version"] = 8
        bad["cameras"][0]["analytics"][0]["classes"] = ["spaceship"]
        agent.controller.on_message(Topic.CONFIG, json.dumps(bad).encode())
        unknown = {"version": 9, "cameras": [{**live["cameras"][0], "camera_id": "cam-nope"}]}
        agent.controller.on_message(Topic.CONFIG, json.dumps(unknown).encode())
        health = HealthSnapshot.model_validate_json(dump(agent.health_snapshot()))
        assert agent.rules["cam-r1"].analytics[0].id == "parking.live"  # the running rules stayed
    finally:
        agent.stop()
    assert health.config_version == 7
    assert "version 9" in health.model_extra["config_error"] and "cam-nope" in health.model_extra["config_error"]

    again, _ = make_agent(tmp_path, hub)  # restart without a hub: the last applied config is still in force
    again.start()
    try:
        assert again.rules["cam-r1"].analytics[0].id == "parking.live" and again.controller.config_version == 7
    finally:
        again.stop()


def test_snapshot_model_update_and_restart_commands(tmp_path: Path, hub: str) -> None:
    agent, link = make_agent(tmp_path, hub)
    agent.start()
    try:
        assert wait_until(lambda: agent.cameras["cam-r1"].pipeline.last_frame is not None)
        snap = command(agent, link, "c-snap", "snapshot")
        assert snap["ok"], snap
        detail = json.loads(snap["detail"])
        path, headers, body = StubHub.puts[-1]
        assert path == "/api/v1/devices/edge-remote-01/snapshots/c-snap"
        assert headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
        assert headers["X-Content-SHA256"] == detail["sha256"] == hashlib.sha256(body).hexdigest()
        assert headers["Authorization"].startswith("Basic ")  # device credentials, as for evidence
        assert (detail["width"], detail["camera_id"]) == (640, "cam-r1")

        original = agent.detector
        weights = (MODELS_DIR / "yolox_nano.onnx").read_bytes()
        # The same network with an unknown protobuf field appended: a different file (sha256) that still loads.
        updated = weights + bytes([0xC2, 0x3E, 3]) + b"v02"
        broken = weights[: len(weights) // 2]
        StubHub.files = {"/models/good.onnx": updated, "/models/broken.onnx": broken}
        sha = hashlib.sha256(updated).hexdigest()
        unsigned = {"name": "yolox_nano", "url": f"{hub}/models/good.onnx", "sha256": sha}
        refused = command(agent, link, "c-m0", "model_update", unsigned)
        assert not refused["ok"] and "not signed" in refused["detail"] and agent.detector is original
        stranger = release(f"{hub}/models/good.onnx", updated, key=Ed25519PrivateKey.generate())
        refused = command(agent, link, "c-m0b", "model_update", stranger)
        assert not refused["ok"] and "matches none of the 1 trusted" in refused["detail"]
        tampered = {**release(f"{hub}/models/good.onnx", updated), "sha256": "0" * 64}  # signed for another file
        refused = command(agent, link, "c-m1", "model_update", tampered)
        assert not refused["ok"] and "matches none" in refused["detail"] and agent.detector is original
        assert not (tmp_path / "data" / "models").exists() or not any((tmp_path / "data" / "models").iterdir())
        fails = command(agent, link, "c-m2", "model_update", release(f"{hub}/models/broken.onnx", broken))
        assert not fails["ok"] and "does not load" in fails["detail"] and agent.detector is original
        missing = command(agent, link, "c-m3", "model_update", {"name": "yolox_nano"})
        assert not missing["ok"] and "url" in missing["detail"]
        good = command(agent, link, "c-m4", "model_update", release(f"{hub}/models/good.onnx", updated))
        assert good["ok"] and "signed by key" in good["detail"], good
        assert wait_until(lambda: agent.health_snapshot().model_watch["verdict"] == "kept", 60)
        assert agent.detector is not original and agent.detector.spec.sha256 == sha
        assert agent.cameras["cam-r1"].pipeline.detector is agent.detector
        frames_before = agent.cameras["cam-r1"].reader.status().frames
        assert frames_before > 0

        restarted = command(agent, link, "c-r", "restart_pipeline", {"camera_id": "cam-r1"})
        assert restarted == {"cmd_id": "c-r", "ok": True, "detail": "restarted: cam-r1"}
        assert wait_until(lambda: agent.cameras["cam-r1"].pipeline.last_frame is not None)
        assert agent.cameras["cam-r1"].pipeline.detector.spec.sha256 == sha
    finally:
        agent.stop()
    leftovers = [p.name for p in (tmp_path / "data" / "models").iterdir()]
    assert leftovers == [f"yolox_nano-{sha[:16]}.onnx"]  # no partial downloads, no rejected files

    again, _ = make_agent(tmp_path, hub)  # the update survives a restart
    again.start()
    try:
        assert again.detector.spec.sha256 == sha
    finally:
        again.stop()


def test_snapshots_are_blurred_with_evidence_off_and_health_says_faces_are_blurred(tmp_path: Path, hub: str) -> None:
    """evidence.enabled: false once left the blurrer unset, and a snapshot went out with clear faces."""
    group = "coco_val2017_000000001000.jpg"
    agent, link = make_agent(tmp_path, hub, picture=group, evidence={"enabled": False})
    agent.start()
    try:
        assert wait_until(lambda: agent.cameras["cam-r1"].pipeline.last_frame is not None)
        snap = command(agent, link, "c-snap-faces", "snapshot")
        assert snap["ok"], snap
        assert json.loads(snap["detail"])["faces_blurred"] >= 10
        sent = cv2.imdecode(np.frombuffer(StubHub.puts[-1][2], np.uint8), cv2.IMREAD_COLOR)
        assert_faces_blurred(cv2.imread(str(shared_file("media", group))), sent)
        assert agent.health_snapshot().privacy == {"faces_blurred": True, "plates_blurred": True}
    finally:
        agent.stop()


def test_faces_unblurred_only_by_the_explicit_setting_logged_and_reported(
    tmp_path: Path, hub: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match=r"privacy\.send_faces_unblurred"):
        make_agent(tmp_path, hub, evidence={"blur_faces": False})
    agent, _ = make_agent(tmp_path, hub, privacy={"send_faces_unblurred": True})
    with caplog.at_level(logging.WARNING, logger="edge_agent.app"):
        agent.start()
    try:
        assert any("faces VISIBLE" in r.getMessage() for r in caplog.records)
        assert agent.blurrer is None
        assert agent.health_snapshot().privacy == {"faces_blurred": False, "plates_blurred": True}
    finally:
        agent.stop()


def test_a_new_model_whose_detections_collapse_is_rolled_back(
    tmp_path: Path, hub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch's inputs are faked (no ONNX file here detects nothing), the rollback is real: the previous model
    file loaded again, the stored override cleared, the new file deleted, health saying so."""
    agent, link = make_agent(tmp_path, hub)
    agent.start()
    try:
        assert wait_until(lambda: agent.detection_totals().frames >= 10)  # the old model's baseline: the 7 parked cars
        original_sha = agent.detector.spec.sha256
        updated = (MODELS_DIR / "yolox_nano.onnx").read_bytes() + bytes([0xC2, 0x3E, 3]) + b"v03"
        StubHub.files = {"/models/next.onnx": updated}
        real = agent.detection_totals
        swapped: list = []

        def collapsed():  # from the swap on: frames go by, nothing is detected
            now = real()
            if not swapped:
                return now
            return type(now)(now.frames, swapped[0].detections)

        monkeypatch.setattr(agent, "detection_totals", collapsed)
        monkeypatch.setattr(agent, "watch_new_model", _remember_swap(agent.watch_new_model, swapped, real))
        good = command(agent, link, "c-next", "model_update", release(f"{hub}/models/next.onnx", updated))
        assert good["ok"], good
        assert wait_until(lambda: agent.health_snapshot().model_watch["verdict"] == "rolled_back", 60)
        assert agent.detector.spec.sha256 == original_sha
        assert agent.outbox.get_meta("model_override") in (None, "")
        assert not any((tmp_path / "data" / "models").glob("*.onnx"))
    finally:
        agent.stop()


def _remember_swap(watch, swapped: list, totals):
    def remembered(*args, **kwargs):
        swapped.append(totals())
        return watch(*args, **kwargs)

    return remembered
