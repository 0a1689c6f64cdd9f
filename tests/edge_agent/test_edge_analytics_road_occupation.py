"""Road occupation reuses the parking dwell machine; the new rule types load, validate and run in the pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cityops.contract.messages import Event
from edge_agent.analytics.finding import FrameContext
from edge_agent.analytics.road_occupation import RoadOccupationAnalytic, RoadOccupationRuleConfig
from edge_agent.capture.sources import Frame
from edge_agent.config import CameraConfig, ConfigError
from edge_agent.detections import Detections
from edge_agent.health import LatencyWindow
from edge_agent.models.manifest import load_manifest
from edge_agent.pipeline import CameraPipeline
from edge_agent.rules import CameraRules, load_rules
from edge_agent.zones import Zone, ZoneConfig
from tests.edge_agent.scenes import gauge

REPO = Path(__file__).resolve().parents[2]
COCO = load_manifest().get("yolox_nano")
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
ZONE = ZoneConfig(id="walk", polygon=[(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)])


def people(*rows: tuple[list[float], int]) -> Detections:
    """Tracked persons: rows of (box, track id) in a 100x100 frame."""
    if not rows:
        empty = Detections.empty(COCO.classes)
        return empty.with_tracker_ids(empty.class_id)
    boxes, ids = zip(*rows, strict=True)
    return Detections.from_arrays(boxes, [0.8] * len(rows), [0] * len(rows), COCO.classes, tracker_id=ids)


def test_vendor_staying_past_the_threshold_starts_updates_and_ends_with_a_scoped_key() -> None:
    config = RoadOccupationRuleConfig(type="road_occupation", zones=["walk"], dwell_s=60, update_every_s=30)
    a = RoadOccupationAnalytic("cam-s", config, [Zone(ZONE)])
    image = np.zeros((100, 100, 3), np.uint8)
    vendor, passer_by = ([40, 50, 50, 90], 3), ([10, 50, 20, 90], 4)
    events = []
    for t in range(0, 100, 5):
        rows = [vendor] + ([passer_by] if t < 20 else [])  # the passer-by leaves long before the threshold
        events += a.observe(FrameContext(float(t), T0 + timedelta(seconds=t), image, people(*rows)))
    for t in range(100, 140, 5):
        events += a.observe(FrameContext(float(t), T0 + timedelta(seconds=t), image, people()))
    assert [(e.phase, e.measurements["dwell_s"]) for e in events] == [("start", 60.0), ("update", 90.0), ("end", 95.0)]
    assert {e.incident_key for e in events} == {"cam-s/walk/occupation/track-3"}
    assert {(e.kind, e.subtype, e.object_class) for e in events} == {("road_occupation", "street_vending", "person")}
    assert a.open_keys() == []


@pytest.mark.parametrize(
    "name", ["kitchen-coco", "kitchen-custom-model", "waterlogging-underpass", "road-occupation-street"]
)
def test_shipped_example_rules_load(name: str) -> None:
    rules = load_rules(REPO / "rules" / "edge" / f"{name}.yaml")
    assert rules.analytics and all(a.version >= 1 for a in rules.analytics)
    if name != "kitchen-custom-model":
        rules.check_classes(COCO.classes, name)  # runs with the stock COCO model
    else:
        with pytest.raises(ConfigError, match="chef_hat"):
            rules.check_classes(COCO.classes, name)


def test_kitchen_floor_zones_must_exist() -> None:
    with pytest.raises(ValueError, match=r"names unknown zones \['floor'\]"):
        CameraRules.model_validate(
            {
                "version": 1,
                "zones": [ZONE.model_dump()],
                "analytics": [{"type": "kitchen", "zones": ["walk"], "rodent_motion": {"zones": ["floor"]}}],
            }
        )


class FakeDetector:
    spec = COCO

    def __init__(self, detections: Detections | None = None) -> None:
        self.detections = detections
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.calls += 1
        return self.detections if self.detections is not None else Detections.empty(COCO.classes)


class FakeRecorder:
    def __init__(self) -> None:
        self.records: list[tuple[dict, object]] = []

    def record(self, event: dict, request) -> int:
        self.records.append((event, request))
        return len(self.records)


def pipeline_for(rules_yaml: str, tmp_path: Path, detector: FakeDetector) -> tuple[CameraPipeline, FakeRecorder]:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml)
    camera = CameraConfig(camera_id="cam-p", source="x.jpg", rules=path, location={"lon": 118.8, "lat": 32.06})
    recorder = FakeRecorder()
    return CameraPipeline(camera, load_rules(path), detector, recorder, LatencyWindow()), recorder


def test_pipeline_runs_a_gauge_only_rule_without_the_detector(tmp_path: Path) -> None:
    polygon = [list(p) for p in gauge.gauge_polygon_norm()]
    rules = f"""
version: 7
zones: [{{id: road, polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}}]
analytics:
  - {{type: waterlogging, id: water.p, version: 3, confirm_s: 10, smooth_frames: 1,
     gauge: {{id: g, polygon: {polygon}, top_cm: 50, bottom_cm: 0}}}}
"""
    detector = FakeDetector()
    pipeline, recorder = pipeline_for(rules, tmp_path, detector)
    for n, scene in enumerate(gauge.gauge_scene(seed=0, n_frames=30)):
        pipeline.process(Frame(scene.image, T0 + timedelta(seconds=scene.t), scene.t, n))
    assert detector.calls == 0
    events = [Event.model_validate({**event, "seq": n}) for n, (event, _) in enumerate(recorder.records, start=1)]
    assert events and events[0].phase == "start" and events[0].kind == "waterlogging"
    assert events[0].rule.id == "water.p" and events[0].rule.version == 3
    assert events[0].model.name == "gauge_waterline" and events[0].measurements["water_depth_cm"] >= 5
    assert recorder.records[0][0]["severity_hint"] in ("blue", "yellow")
    assert recorder.records[0][1].box_xyxy[3] > recorder.records[0][1].box_xyxy[1]


def test_pipeline_road_occupation_events_carry_the_detector_model(tmp_path: Path) -> None:
    rules = """
version: 1
zones: [{id: walk, polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}]
analytics:
  - {type: road_occupation, id: occ.p, version: 2, zones: [walk], dwell_s: 2, leave_after_s: 5}
"""
    vendor = Detections.from_arrays([[40, 50, 50, 90]], [0.9], [0], COCO.classes)
    pipeline, recorder = pipeline_for(rules, tmp_path, FakeDetector(vendor))
    image = np.zeros((100, 100, 3), np.uint8)
    for n in range(4):
        pipeline.process(Frame(image, T0 + timedelta(seconds=n), float(n), n))
    ((event, request),) = recorder.records
    parsed = Event.model_validate({**event, "seq": 1})
    assert (parsed.kind, parsed.phase, parsed.rule.id, parsed.model.sha256) == (
        "road_occupation",
        "start",
        "occ.p",
        COCO.sha256,
    )
    assert parsed.bbox == [0.4, 0.5, 0.5, 0.9] and parsed.location.lon == 118.8
    assert request.zone_px is not None
