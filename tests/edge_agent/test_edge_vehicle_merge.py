"""One vehicle, one stay: a van the detector reports as both `car` and `truck` is merged before tracking.

Real picture: frame 66 of `../shared/media/mmdet_demo.mp4` through YOLOX-Nano, where one vehicle comes out as a car
(0.69) and a truck (0.40) on the same pixels (IoU 0.97); per-class NMS keeps both. The frame repeated stands in for
a fixed camera, as the README's demo does with `mmdet_demo.jpg`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.capture.sources import Frame
from edge_agent.config import CameraConfig
from edge_agent.detections import Detections
from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.health import LatencyWindow
from edge_agent.models.manifest import ModelStore, load_manifest
from edge_agent.pipeline import CameraPipeline
from edge_agent.rules import load_rules
from edge_agent.tracking.iou import box_iou
from edge_agent.tracking.merge import merge_class_group
from tests.edge_agent.edge_testkit import ListRecorder
from tests.shared_assets import MODELS_DIR, shared_file

VEHICLES = ("car", "truck", "bus", "motorcycle")
VAN = (422.0, 143.0, 583.0, 295.0)  # where YOLOX-Nano sees the car-and-truck in frame 66


@pytest.fixture(scope="module")
def street() -> tuple[np.ndarray, Detections]:
    """Frame 66 of the road clip and the real detector's output on it."""
    clip = shared_file("media", "mmdet_demo.mp4")
    shared_file("models", "yolox_nano.onnx")
    cap = cv2.VideoCapture(str(clip))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, 66)
        ok, image = cap.read()
    finally:
        cap.release()
    assert ok
    spec, path = ModelStore(load_manifest(), MODELS_DIR).resolve("yolox_nano")
    detections = create_detector(spec, path, DetectorOptions()).detect(image)
    return image, detections


def at_van(detections: Detections) -> Detections:
    vehicles = detections[detections.class_mask(frozenset(VEHICLES))]
    return vehicles[box_iou(vehicles.xyxy, np.array([VAN], np.float32))[:, 0] >= 0.8]


def test_the_detector_reports_the_van_twice_and_the_merge_keeps_one_noting_both_classes(street) -> None:
    _, detections = street
    twice = at_van(detections)
    assert sorted(twice.names()) == ["car", "truck"]  # the real duplicate this is about
    merged = merge_class_group(detections, VEHICLES, 0.7)
    (van,) = at_van(merged).names()
    one = at_van(merged)
    assert van == "car" and one.merged_names() == ["truck"]
    assert float(one.confidence[0]) == float(twice.confidence.max())
    # The box is the score-weighted mean of the two: between them, nearer the car's.
    car, truck = (twice.xyxy[twice.names().index(n)] for n in ("car", "truck"))
    low, high = np.minimum(car, truck), np.maximum(car, truck)
    assert ((one.xyxy[0] >= low - 1e-3) & (one.xyxy[0] <= high + 1e-3)).all()
    assert np.abs(one.xyxy[0] - car).sum() <= np.abs(one.xyxy[0] - truck).sum()
    # Nothing else in the frame changes: only boxes of the group that overlap that much are merged.
    assert len(merged) == len(detections) - 1


def test_merge_leaves_other_classes_and_weak_overlaps_alone() -> None:
    names = ("person", "car", "truck")
    d = Detections.from_arrays(
        [[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [52, 50, 62, 60]], [0.9, 0.8, 0.7, 0.6], [0, 1, 1, 2], names
    )
    out = merge_class_group(d, ("car", "truck"), 0.7)  # person/car overlap fully but are not one group
    assert out.names() == ["person", "car", "car", "truck"]  # IoU 0.67 between the last two: below 0.7


class _Replay:
    """The real detector's output on the real frame, every frame (the camera does not move)."""

    spec = load_manifest().get("yolox_nano")

    def __init__(self, detections: Detections) -> None:
        self.detections = detections

    def detect(self, image: np.ndarray) -> Detections:
        return self.detections


def test_a_van_seen_as_car_and_truck_is_one_stay_in_the_pipeline(street, tmp_path: Path) -> None:
    image, detections = street
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        """
version: 1
zones: [{id: road, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]
analytics:
  - {type: parking, id: parking.road, zones: [road], dwell_s: 3}
"""
    )
    camera = CameraConfig(camera_id="cam-v", source="x.jpg", rules=rules)
    recorder = ListRecorder()
    pipeline = CameraPipeline(camera, load_rules(rules), _Replay(detections), recorder, LatencyWindow())
    t0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    for n in range(6):
        pipeline.process(Frame(image, t0 + timedelta(seconds=n), 100.0 + n, n))
    h, w = image.shape[:2]
    van = np.array([[VAN[0] / w, VAN[1] / h, VAN[2] / w, VAN[3] / h]], np.float32)
    starts = [e for e in recorder.events if e["phase"] == "start"]
    at = [e for e in starts if box_iou(np.array([e["bbox"]], np.float32), van)[0, 0] >= 0.8]
    assert len(at) == 1, [(e["object_class"], e["incident_key"]) for e in at]
    assert at[0]["object_class"] == "car" and at[0]["object_classes"] == ["car", "truck"]
