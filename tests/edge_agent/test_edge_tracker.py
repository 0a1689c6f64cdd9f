from __future__ import annotations

import pytest

from edge_agent.detections import Detections
from edge_agent.tracking import IouTracker
from edge_agent.tracking.iou import box_iou

NAMES = ("car", "truck")


def dets(*boxes: list[float], class_id: int = 0) -> Detections:
    return Detections.from_arrays(list(boxes), [0.8] * len(boxes), [class_id] * len(boxes), NAMES)


def test_box_iou() -> None:
    iou = box_iou(dets([0, 0, 10, 10]).xyxy, dets([0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]).xyxy)
    assert iou[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0])


def test_ids_survive_jitter_short_gaps_and_class_flicker() -> None:
    tracker = IouTracker(iou_threshold=0.3, max_age_s=3.0)
    a, b = [10, 10, 50, 40], [100, 10, 150, 40]
    first = tracker.update(dets(a, b), 0.0).tracker_id.tolist()
    assert first == [1, 2]
    # Jittered boxes, reversed order: ids follow the boxes, not the order.
    assert tracker.update(dets([102, 11, 151, 41], [11, 9, 51, 41]), 0.5).tracker_id.tolist() == [2, 1]
    assert len(tracker.update(dets(), 1.0)) == 0  # both missed
    assert len(tracker.update(dets(), 2.5)) == 0
    assert tracker.update(dets(a, class_id=1), 3.0).tracker_id.tolist() == [1]  # back, now called a truck
    assert tracker.update(dets(b), 3.2).tracker_id.tolist() == [2]


def test_long_absence_gives_a_new_id() -> None:
    tracker = IouTracker(max_age_s=2.0)
    box = [10, 10, 50, 40]
    assert tracker.update(dets(box), 0.0).tracker_id.tolist() == [1]
    assert tracker.update(dets(box), 5.0).tracker_id.tolist() == [2]
    assert [t.track_id for t in tracker.tracks] == [2]


def test_one_detection_never_takes_two_tracks() -> None:
    tracker = IouTracker()
    tracker.update(dets([0, 0, 10, 10], [2, 0, 12, 10]), 0.0)
    ids = tracker.update(dets([1, 0, 11, 10]), 0.1).tracker_id.tolist()
    assert len(ids) == 1 and ids[0] in (1, 2)
    assert tracker.update(dets([0, 0, 10, 10], [2, 0, 12, 10]), 0.2).tracker_id.tolist() in ([1, 2], [2, 1])
