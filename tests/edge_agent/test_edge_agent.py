"""The whole agent on the still street picture with the real model; a fake link and uploader stand in for the hub."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from edge_testkit import MODELS_DIR, FakeLink, FakeUploader, shared_file

from cityops.contract.messages import Event, EventBatch, HealthSnapshot, dump
from cityops.contract.topics import Topic
from edge_agent.app import EdgeAgent
from edge_agent.comms.outbox import Outbox
from edge_agent.config import parse_config

RULES = """
version: 3
zones:
  - id: zone-a
    polygon: [[0.24, 0.28], [0.84, 0.28], [0.84, 0.385], [0.24, 0.385]]
analytics:
  - {type: parking, id: parking.test, version: 2, zones: [zone-a], min_confidence: 0.35,
     dwell_s: 0.5, update_every_s: 30, leave_after_s: 5}
"""


def wait_until(predicate, timeout_s: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def agent_config(tmp_path: Path):
    street = shared_file("media", "mmdet_demo.jpg")
    shared_file("models", "yolox_nano.onnx")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return parse_config(
        {
            "device_id": "edge-test-01",
            "mqtt_url": "mqtt://edge-test-01:pw@127.0.0.1:1",
            "hub_url": "http://127.0.0.1:1",
            "data_dir": str(tmp_path / "data"),
            "models_dir": str(MODELS_DIR),
            "health_interval_s": 3600,
            "cameras": [
                {
                    "camera_id": "cam-demo-01",
                    "source": str(street),
                    "fps": 5,
                    "rules": str(rules),
                    "location": {"lon": 118.7969, "lat": 32.0603},
                }
            ],
        }
    )


def test_still_street_yields_parking_start_events_published_after_evidence(agent_config) -> None:
    link, uploader = FakeLink(), FakeUploader()
    agent = EdgeAgent(agent_config, link_factory=lambda on_message, on_connected: link, uploader=uploader)
    agent.start()
    try:
        assert link.started
        assert wait_until(lambda: len(link.messages(Topic.EVENTS)) >= 3), "no parking events within 180 s"
        health = HealthSnapshot.model_validate_json(dump(agent.health_snapshot()))
        agent.controller.on_message(Topic.ACK, json.dumps({"acked_seq": 1}).encode())
        agent.sender.stop()  # otherwise it may resend (and re-defer) the unacked events before they are listed
        agent.outbox.retry_all_now()
        unacked = [item.seq for item in agent.outbox.due("edge-test-01")]
    finally:
        agent.stop()
    assert not link.started

    events = [
        Event.model_validate(e) for p in link.messages(Topic.EVENTS) for e in EventBatch.model_validate_json(p).events
    ]
    starts = [e for e in events if e.phase == "start"]
    assert len(starts) >= 3
    first = starts[0]
    assert first.seq == 1 and first.kind == "illegal_parking" and first.subtype == "no_parking_zone"
    assert first.incident_key.startswith("cam-demo-01/zone-a/track-") and first.zone_id == "zone-a"
    assert first.measurements["dwell_s"] >= 0.5 and first.confidence >= 0.35
    assert first.rule.id == "parking.test" and first.rule.version == 2
    assert first.model.name == "yolox_nano" and first.model.sha256.startswith("695e750a")
    assert first.location.lon == 118.7969 and all(0 <= v <= 1 for v in first.bbox)
    # Every published event's picture was uploaded first, with the hash the event names.
    uploaded = {event_id: sha for event_id, _, sha in uploader.uploads}
    assert all(uploaded[e.event_id] == e.evidence.sha256 for e in events)
    assert health.cameras[0].camera_id == "cam-demo-01" and health.inference_ms_p50 > 0
    assert [m.name for m in health.models] == ["yolox_nano", "yunet_face"]
    assert health.model_extra["outbox_refused"] == 0
    assert health.model_extra["events_without_picture"] == 0
    assert health.model_extra["disk"]["level"] == "ok" and health.model_extra["alarms"] == []
    assert 1 not in unacked and 2 in unacked  # the hub's ack (not the publish) removed exactly seq <= 1


def test_outbox_keeps_events_across_restart_while_offline(agent_config) -> None:
    link = FakeLink(connected=False)  # the hub is unreachable for the whole run
    agent = EdgeAgent(agent_config, link_factory=lambda *_: link, uploader=FakeUploader())
    agent.start()
    try:
        assert wait_until(lambda: agent.outbox.depth() >= 1), "no event recorded within 60 s"
    finally:
        agent.stop()
    outbox = Outbox(agent_config.data_dir / "outbox.sqlite")
    items = outbox.due("edge-test-01")
    assert items and items[0].seq == 1 and items[0].evidence_path.is_file()
    assert link.messages(Topic.EVENTS) == []


def test_bad_rules_stop_the_agent_before_it_starts(agent_config, tmp_path: Path) -> None:
    from edge_agent.config import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("min_confidence", "min_confidance"))
    camera = agent_config.cameras[0].model_copy(update={"rules": bad})
    config = agent_config.model_copy(update={"cameras": [camera]})
    link = FakeLink()
    with pytest.raises(ConfigError, match="min_confidance"):
        EdgeAgent(config, link_factory=lambda *_: link, uploader=FakeUploader()).start()
    assert not link.started
