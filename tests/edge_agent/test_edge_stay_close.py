"""Open stays are never left open at the hub by the agent: a rules change ends them (`rules_changed`) unless the
rule is unchanged (then the stay carries on), and stopping the agent ends them (`agent_stopped`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cityops.contract.messages import Event
from edge_agent.capture.sources import Frame
from edge_agent.config import CameraConfig
from edge_agent.health import LatencyWindow
from edge_agent.pipeline import CameraPipeline, PipelineWorker
from edge_agent.rules import load_rules
from tests.edge_agent.edge_testkit import ListRecorder, OneCarDetector

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
IMAGE = np.zeros((100, 100, 3), np.uint8)
RULES = """
version: {version}
zones: [{{id: kerb, polygon: [[0.2, 0.4], [0.8, 0.4], [0.8, 0.8], [0.2, 0.8]]}}]
analytics:
  - {{type: parking, id: parking.kerb, zones: [kerb], dwell_s: {dwell}}}
"""


def frame(n: int) -> Frame:
    return Frame(IMAGE, T0 + timedelta(seconds=n), 100.0 + n, n)


def parked(tmp_path: Path, recorder: ListRecorder) -> CameraPipeline:
    """A pipeline whose car has started a stay (dwell 5 s), at frame 10."""
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(version=1, dwell=5))
    pipeline = CameraPipeline(
        CameraConfig(camera_id="cam-c", source="x.jpg", rules=path),
        load_rules(path),
        OneCarDetector(),
        recorder,
        LatencyWindow(),
    )
    for n in range(11):
        pipeline.process(frame(n))
    assert [e["phase"] for e in recorder.events] == ["start"]
    return pipeline


def rules(tmp_path: Path, version: int, dwell: int):
    path = tmp_path / f"rules-{version}.yaml"
    path.write_text(RULES.format(version=version, dwell=dwell))
    return load_rules(path)


def test_a_changed_rule_ends_the_open_stay_with_rules_changed_before_the_next_frame(tmp_path: Path) -> None:
    recorder = ListRecorder()
    old = parked(tmp_path, recorder)
    new = old.successor(rules(tmp_path, 2, dwell=60))
    assert len(recorder.events) == 1  # nothing yet: the worker ends them on its own thread
    new.process(frame(11))
    end = recorder.events[1]
    assert (end["phase"], end["end_reason"], end["incident_key"]) == ("end", "rules_changed", "cam-c/kerb/track-1")
    Event.model_validate({**end, "seq": 2})
    # The car is still there: counted anew under the new rule, it starts a new stay once that rule's dwell is met.
    for n in range(12, 80):
        new.process(frame(n))
    assert [e["phase"] for e in recorder.events] == ["start", "end", "start"]


def test_an_unchanged_rule_keeps_its_stay_across_a_rules_reload(tmp_path: Path) -> None:
    recorder = ListRecorder()
    old = parked(tmp_path, recorder)
    new = old.successor(rules(tmp_path, 2, dwell=5))  # a new file version, the same parking rule and zone
    for n in range(11, 50):
        new.process(frame(n))
    assert [e["phase"] for e in recorder.events] == ["start", "update"]  # its update at 30 s of dwell, no end


def test_stopping_the_worker_ends_open_stays_with_agent_stopped(tmp_path: Path) -> None:
    recorder = ListRecorder()
    pipeline = parked(tmp_path, recorder)
    worker = PipelineWorker(pipeline, lambda timeout: None)
    worker.stop(end_stays="agent_stopped")  # how the agent stops its cameras (edge_agent/app.py)
    end = recorder.events[-1]
    assert (end["phase"], end["end_reason"], end["measurements"]["dwell_s"]) == ("end", "agent_stopped", 9.0)
    assert end["ts"] == "2026-07-01T09:00:10.000Z"  # dated at the car's last sighting (frame 10)
    assert pipeline.close("agent_stopped") == []  # nothing left open, nothing ended twice


def test_a_reload_then_a_stop_ends_each_stay_once(tmp_path: Path) -> None:
    recorder = ListRecorder()
    old = parked(tmp_path, recorder)
    new = old.successor(rules(tmp_path, 2, dwell=60))
    new.close("agent_stopped")  # stopped before the new pipeline saw a frame
    assert [(e["phase"], e.get("end_reason")) for e in recorder.events] == [("start", None), ("end", "rules_changed")]
