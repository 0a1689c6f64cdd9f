"""A hub `config` adds a camera to a running agent (real model, still street picture from ../shared/media): it runs
and produces events, health reports it at once, a restart without the hub brings it back with its rules, and what
cannot be applied is refused with nothing changed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from edge_testkit import FakeLink, FakeUploader
from technician_testkit import shared_file, shared_media

from cityops.contract.topics import Topic
from edge_agent.app import REMOTE_CAMERAS_META, EdgeAgent
from edge_agent.config import parse_config

ZONES = [{"id": "zone-a", "polygon": [[0.24, 0.28], [0.84, 0.28], [0.84, 0.385], [0.24, 0.385]]}]
FILE_PARKING = {"type": "parking", "id": "parking.file", "zones": ["zone-a"], "dwell_s": 3600}
FILE_RULES = {"version": 1, "zones": ZONES, "analytics": [FILE_PARKING]}


def wait_until(predicate, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def make_agent(tmp_path: Path) -> tuple[EdgeAgent, FakeLink]:
    street = shared_media("mmdet_demo.jpg")
    models = shared_file("models", "yolox_nano.onnx").parent
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps(FILE_RULES))
    config = parse_config(
        {
            "device_id": "edge-cams-01",
            "mqtt_url": "mqtt://edge-cams-01:s3cret@127.0.0.1:1",
            "hub_url": "http://127.0.0.1:1",
            "data_dir": str(tmp_path / "data"),
            "models_dir": str(models),
            "health_interval_s": 3600,
            "evidence": {"enabled": False},
            "cameras": [{"camera_id": "cam-file", "source": str(street), "fps": 5, "rules": str(rules)}],
        }
    )
    link = FakeLink()
    return EdgeAgent(config, link_factory=lambda *_: link, uploader=FakeUploader()), link


def new_camera(version: int = 1, dwell_s: float = 0.5, **extra: object) -> dict:
    return {
        "camera_id": "cam-added",
        "source": str(shared_media("mmdet_demo.jpg")),
        "name": "Street, second view",
        "location": {"lon": 118.7969, "lat": 32.0603},
        "fps": 4,
        "version": version,
        "zones": ZONES,
        "analytics": [{"type": "parking", "id": "parking.added", "zones": ["zone-a"], "dwell_s": dwell_s}],
        **extra,
    }


def apply(agent: EdgeAgent, version: int, *cameras: dict) -> None:
    agent.controller.on_message(Topic.CONFIG, json.dumps({"version": version, "cameras": list(cameras)}).encode())


def health(link: FakeLink) -> list[dict]:
    return [json.loads(p) for p in link.messages(Topic.HEALTH)]


def added_events(link: FakeLink) -> list[dict]:
    batches = [json.loads(p) for p in link.messages(Topic.EVENTS)]
    return [e for b in batches for e in b["events"] if e.get("camera_id") == "cam-added"]


def test_hub_config_adds_a_camera_that_runs_and_survives_a_restart(tmp_path: Path) -> None:
    agent, link = make_agent(tmp_path)
    agent.start()
    try:
        apply(agent, 4, new_camera())
        assert agent.controller.config_error is None and agent.controller.config_version == 4
        assert set(agent.cameras) == {"cam-file", "cam-added"}
        runtime = agent.cameras["cam-added"]
        assert runtime.config.fps == 4 and runtime.config.location.lon == 118.7969
        assert wait_until(lambda: runtime.pipeline.last_frame is not None), "the added camera delivers no frame"
        assert wait_until(lambda: added_events(link)), "the added camera's rules produced no event"
        assert added_events(link)[0]["rule"]["id"] == "parking.added"
        # Health at once (the interval is an hour), with the new camera and the applied version.
        assert wait_until(lambda: any(h["config_version"] == 4 for h in health(link)))
        reported = next(h for h in health(link) if h["config_version"] == 4)
        assert [c["camera_id"] for c in reported["cameras"]] == ["cam-file", "cam-added"]

        # Refused, nothing changed: another source for the running camera; an unknown camera without source.
        apply(agent, 5, new_camera(source="rtsp://10.1.1.1/other"))
        assert "cannot be changed remotely" in agent.controller.config_error
        apply(agent, 6, {**FILE_RULES, "camera_id": "cam-ghost"})
        assert "'cam-ghost' is not a camera of this device" in agent.controller.config_error
        assert agent.controller.config_version == 4 and set(agent.cameras) == {"cam-file", "cam-added"}
        assert wait_until(lambda: "cam-ghost" in (health(link)[-1].get("config_error") or "")), "refusal not reported"

        # Later configs may change the added camera's rules (with or without repeating its source).
        later = new_camera(version=2, dwell_s=7200)
        later.pop("source"), later.pop("name"), later.pop("location"), later.pop("fps")
        apply(agent, 7, later)
        assert agent.controller.config_error is None and agent.rules["cam-added"].version == 2
        stored = json.loads(agent.outbox.get_meta(REMOTE_CAMERAS_META))
        assert stored["cam-added"]["camera"]["name"] == "Street, second view"
        assert stored["cam-added"]["rules"]["version"] == 2
    finally:
        agent.stop()
    assert {r.reader.status().status for r in agent.cameras.values()} == {"stopped"}  # the added camera too

    again, link = make_agent(tmp_path)  # no hub: the added camera comes back from the outbox's meta
    again.start()
    try:
        assert set(again.cameras) == {"cam-file", "cam-added"}
        assert again.rules["cam-added"].version == 2 and again.controller.config_version == 7
        assert wait_until(lambda: again.cameras["cam-added"].pipeline.last_frame is not None)
        apply(again, 7, later)  # the retained config again after a restart: applied, nothing added twice
        assert again.controller.config_error is None and set(again.cameras) == {"cam-file", "cam-added"}
    finally:
        again.stop()
