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


def objects(*rows: tuple[list[float], str, int]) -> Detections:
    """Tracked objects: rows of (box, COCO class name, track id) in a 100x100 frame."""
    if not rows:
        empty = Detections.empty(COCO.classes)
        return empty.with_tracker_ids(empty.class_id)
    boxes, names, ids = zip(*rows, strict=True)
    classes = [COCO.classes.index(n) for n in names]
    return Detections.from_arrays(boxes, [0.8] * len(rows), classes, COCO.classes, tracker_id=ids)


def occupation(**extra) -> RoadOccupationAnalytic:
    config = RoadOccupationRuleConfig(type="road_occupation", zones=["walk"], dwell_s=60, update_every_s=30, **extra)
    return RoadOccupationAnalytic("cam-s", config, [Zone(ZONE)])


def feed(a: RoadOccupationAnalytic, times: range, *rows) -> list:
    image = np.zeros((100, 100, 3), np.uint8)
    return [
        f for t in times for f in a.observe(FrameContext(float(t), T0 + timedelta(seconds=t), image, objects(*rows)))
    ]


# A stall on the pavement: umbrella over a table, two chairs, the vendor behind it.
UMBRELLA = ([30, 40, 60, 62], "umbrella", 11)
TABLE = ([35, 62, 55, 80], "dining table", 12)
CHAIRS = (([25, 66, 33, 82], "chair", 13), ([57, 66, 65, 82], "chair", 14))
VENDOR = ([42, 50, 50, 84], "person", 15)


def test_a_stall_of_umbrella_table_and_two_chairs_is_one_occupation() -> None:
    a = occupation()
    events = feed(a, range(0, 100, 5), UMBRELLA, TABLE, *CHAIRS, VENDOR)
    events += feed(a, range(100, 140, 5))  # packed up
    assert [(e.phase, e.measurements["dwell_s"]) for e in events] == [("start", 60.0), ("update", 90.0), ("end", 95.0)]
    assert {e.incident_key for e in events} == {"cam-s/walk/occupation/track-11"}  # the oldest stall object
    start = events[0]
    assert start.extra["objects"] == {"chair": 2, "dining table": 1, "person": 1, "umbrella": 1}
    assert start.measurements["count"] == 5.0
    assert start.xyxy == (25.0, 40.0, 65.0, 84.0)  # the whole stall
    assert (start.kind, start.subtype) == ("road_occupation", "street_vending")
    assert a.open_keys() == []


def test_two_stalls_apart_are_two_occupations() -> None:
    a = occupation()
    far_table = ([80, 70, 95, 85], "dining table", 21)
    events = feed(a, range(0, 65, 5), ([5, 70, 20, 85], "dining table", 20), far_table)
    assert sorted(e.incident_key for e in events) == [
        "cam-s/walk/occupation/track-20",
        "cam-s/walk/occupation/track-21",
    ]


def test_people_resting_on_a_bench_are_not_vendors() -> None:
    # Even when the rule lets benches and people be part of an occupation: no stall object, no occupation.
    a = occupation(classes=["person", "bench", "chair", "umbrella", "dining table", "suitcase"])
    bench = ([20, 60, 80, 85], "bench", 30)
    sitting = (([25, 50, 35, 80], "person", 31), ([60, 50, 70, 80], "person", 32))
    assert feed(a, range(0, 600, 10), bench, *sitting) == []
    assert feed(a, range(600, 1200, 10), ([40, 50, 50, 90], "person", 33), ([52, 66, 60, 82], "chair", 34)) == []


def test_a_person_standing_alone_is_not_a_stall() -> None:
    assert feed(occupation(), range(0, 600, 10), ([40, 50, 50, 90], "person", 3)) == []


def test_stall_classes_must_be_counted_classes() -> None:
    with pytest.raises(ValueError, match="stall_classes"):
        RoadOccupationRuleConfig(type="road_occupation", zones=["walk"], classes=["person"], stall_classes=["umbrella"])


def test_a_stall_whose_objects_get_new_track_ids_stays_one_occupation() -> None:
    a = occupation()
    events = feed(a, range(0, 40, 5), UMBRELLA, TABLE, VENDOR)
    relabelled = [([*box], name, tid + 100) for box, name, tid in (UMBRELLA, TABLE, VENDOR)]
    events += feed(a, range(40, 100, 5), *relabelled)
    assert [(e.phase, e.incident_key) for e in events] == [
        ("start", "cam-s/walk/occupation/track-11"),
        ("update", "cam-s/walk/occupation/track-11"),
    ]


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
    stall = Detections.from_arrays([[40, 50, 50, 90]], [0.9], [COCO.classes.index("umbrella")], COCO.classes)
    pipeline, recorder = pipeline_for(rules, tmp_path, FakeDetector(stall))
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


def test_close_ends_an_open_occupation_with_the_reason() -> None:
    a = occupation()
    feed(a, range(0, 65, 5), UMBRELLA, TABLE)
    (end,) = a.close(70.0, "agent_stopped")
    assert (end.phase, end.extra["end_reason"], end.ago_s) == ("end", "agent_stopped", 10.0)
    assert a.open_keys() == []
