"""The dwell state machine on synthetic tracked detections and a fake clock (plain numbers)."""

from __future__ import annotations

import pytest

from edge_agent.analytics.parking import ParkingAnalytic, ParkingRuleConfig
from edge_agent.detections import Detections
from edge_agent.zones import Zone, ZoneConfig

NAMES = ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck")
FRAME = (100, 100)
IN_ZONE = [40, 30, 60, 60]  # bottom centre (0.5, 0.6): inside the zone below
OUT_OF_ZONE = [40, 0, 60, 20]  # bottom centre (0.5, 0.2)


def make(dwell_s: float = 10, update_every_s: float = 30, leave_after_s: float = 5) -> ParkingAnalytic:
    config = ParkingRuleConfig(
        type="parking", zones=["zone-a"], dwell_s=dwell_s, update_every_s=update_every_s, leave_after_s=leave_after_s
    )
    zone = Zone(ZoneConfig(id="zone-a", polygon=[(0.2, 0.4), (0.8, 0.4), (0.8, 0.8), (0.2, 0.8)]))
    return ParkingAnalytic("cam-1", config, [zone])


def tracked(*rows: tuple[list[float], int, int, float]) -> Detections:
    """rows of (box, class_id, track_id, confidence)."""
    if not rows:
        return Detections.empty(NAMES).with_tracker_ids(Detections.empty(NAMES).class_id.astype("int64"))
    boxes, classes, ids, scores = zip(*((r[0], r[1], r[2], r[3]) for r in rows), strict=True)
    return Detections.from_arrays(boxes, scores, classes, NAMES, tracker_id=ids)


def run(analytic: ParkingAnalytic, t: float, *rows) -> list:
    return analytic.observe(t, tracked(*rows), FRAME)


def test_start_exactly_at_threshold_then_rate_limited_updates_then_end() -> None:
    a = make()
    car = (IN_ZONE, 2, 7, 0.8)
    for t in range(0, 10):
        assert run(a, float(t), car) == []
    (start,) = run(a, 10.0, car)
    assert (start.phase, start.incident_key, start.dwell_s, start.zone_id) == (
        "start",
        "cam-1/zone-a/track-7",
        10.0,
        "zone-a",
    )
    assert start.class_name == "car" and start.xyxy == tuple(float(v) for v in IN_ZONE)
    assert a.open_keys() == ["cam-1/zone-a/track-7"]
    for t in range(11, 40):
        assert run(a, float(t), car) == []
    (update,) = run(a, 40.0, car)
    assert (update.phase, update.dwell_s) == ("update", 40.0)
    assert run(a, 41.0, car) == []
    # The car leaves: nothing until it has been gone for leave_after_s, then one end with the dwell it had.
    for t in (42.0, 44.0, 46.0):
        assert run(a, t) == []
    (end,) = run(a, 46.5)
    assert (end.phase, end.dwell_s, end.incident_key) == ("end", 41.0, "cam-1/zone-a/track-7")
    assert a.open_keys() == [] and run(a, 60.0) == []


def test_short_miss_keeps_the_stay() -> None:
    a = make(dwell_s=10, leave_after_s=5)
    car = (IN_ZONE, 2, 3, 0.8)
    run(a, 0.0, car)
    run(a, 4.0, car)
    assert run(a, 8.0) == []  # detector missed it for 4 s (< leave_after_s)
    (start,) = run(a, 10.0, car)
    assert start.phase == "start" and start.dwell_s == 10.0


def test_vehicle_that_leaves_before_threshold_produces_nothing() -> None:
    a = make(dwell_s=10)
    car = (IN_ZONE, 2, 1, 0.8)
    for t in range(0, 8):
        assert run(a, float(t), car) == []
    assert run(a, 20.0) == []
    assert a.open_keys() == []


@pytest.mark.parametrize(
    "row",
    [
        (OUT_OF_ZONE, 2, 1, 0.9),  # outside the zone
        (IN_ZONE, 0, 1, 0.9),  # a person, not a vehicle class
        (IN_ZONE, 2, 1, 0.2),  # below min_confidence
    ],
)
def test_ineligible_detections_never_start(row) -> None:
    a = make(dwell_s=2)
    assert [e for t in range(0, 10) for e in run(a, float(t), row)] == []


def test_each_track_is_its_own_incident() -> None:
    a = make(dwell_s=1)
    left, right = ([25, 30, 40, 60], 2, 1, 0.8), ([60, 30, 75, 60], 7, 2, 0.7)
    run(a, 0.0, left, right)
    events = run(a, 1.0, left, right)
    assert sorted(e.incident_key for e in events) == ["cam-1/zone-a/track-1", "cam-1/zone-a/track-2"]
    assert {e.class_name for e in events} == {"car", "truck"}


def test_untracked_detections_are_refused() -> None:
    with pytest.raises(ValueError, match="tracked"):
        make().observe(0.0, Detections.from_arrays([IN_ZONE], [0.9], [2], NAMES), FRAME)
