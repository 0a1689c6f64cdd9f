"""The dwell state machine on synthetic tracked detections and a fake clock (plain numbers), and its time windows."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cityops.contract.messages import Event
from edge_agent.analytics.finding import FrameContext
from edge_agent.analytics.parking import ParkingAnalytic, ParkingRuleConfig
from edge_agent.analytics.road_occupation import RoadOccupationAnalytic, RoadOccupationRuleConfig
from edge_agent.capture.sources import Frame
from edge_agent.config import CameraConfig
from edge_agent.detections import Detections
from edge_agent.health import LatencyWindow
from edge_agent.models.manifest import load_manifest
from edge_agent.pipeline import CameraPipeline
from edge_agent.rules import load_rules
from edge_agent.zones import Zone, ZoneConfig
from tests.edge_agent.edge_testkit import ListRecorder, OneCarDetector

NAMES = ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck")
FRAME = (100, 100)
IN_ZONE = [40, 30, 60, 60]  # bottom centre (0.5, 0.6): inside the zone below
OUT_OF_ZONE = [40, 0, 60, 20]  # bottom centre (0.5, 0.2)


def make(dwell_s: float = 10, update_every_s: float = 30, leave_after_s: float = 5, **extra) -> ParkingAnalytic:
    config = ParkingRuleConfig(
        type="parking",
        zones=["zone-a"],
        dwell_s=dwell_s,
        update_every_s=update_every_s,
        leave_after_s=leave_after_s,
        **extra,
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
    # The car is gone (or hidden): nothing while the occlusion hold lasts, then one end with the dwell it had,
    # dated at its last sighting.
    for t in (42.0, 46.0, 100.0, 131.0):
        assert run(a, t) == []
    (end,) = run(a, 131.5)
    assert (end.phase, end.dwell_s, end.incident_key) == ("end", 41.0, "cam-1/zone-a/track-7")
    assert (end.end_reason, end.ago_s) == ("left", 90.5)
    assert a.open_keys() == [] and run(a, 200.0) == []


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


# --- time windows: no parking 07:00-19:00 on working days (Asia/Shanghai) -------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
WED_0650 = datetime(2026, 7, 1, 6, 50, tzinfo=SHANGHAI)  # 2026-07-01 is a Wednesday
CAR = (IN_ZONE, 2, 5, 0.8)


def windowed(grace_s: float = 0.0, **extra) -> ParkingAnalytic:
    config = ParkingRuleConfig(
        type="parking",
        zones=["zone-a"],
        dwell_s=300,
        update_every_s=60,
        leave_after_s=20,
        timezone="Asia/Shanghai",
        windows=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}],
        grace_s=grace_s,
        **extra,
    )
    zone = Zone(ZoneConfig(id="zone-a", polygon=[(0.2, 0.4), (0.8, 0.4), (0.8, 0.8), (0.2, 0.8)]))
    return ParkingAnalytic("cam-1", config, [zone])


def drive(a: ParkingAnalytic, start: datetime, seconds: range, *rows, mono0: float = 1000.0) -> list[tuple]:
    """Frames at `start + s` (monotonic clock `mono0 + s`); returns (local wall time, event) pairs."""
    out = []
    for s in seconds:
        wall = start + timedelta(seconds=s)
        out += [(wall, e) for e in a.observe(mono0 + s, tracked(*rows), FRAME, wall)]
    return out


def test_car_parked_before_the_window_counts_from_its_opening() -> None:
    a = windowed()
    events = drive(a, WED_0650, range(0, 1050, 7), CAR)  # sparse frames: 7 s apart, none exactly at 07:00
    wall, start = events[0]
    assert start.phase == "start" and wall.time() == time(7, 5, 3)  # first frame at or after 07:05:00
    assert start.dwell_s == 303.0  # counted from 07:00:00 exactly, not from the first frame after it (07:00:06)
    assert [(w.time(), e.phase, e.dwell_s) for w, e in events[1:]] == [
        (time(7, 6, 6), "update", 366.0),
        (time(7, 7, 9), "update", 429.0),
    ]


def test_grace_period_delays_counting_after_the_opening() -> None:
    a = windowed(grace_s=120)
    (first, *_) = drive(a, WED_0650, range(0, 1200, 10), CAR)
    assert first[0].time() == time(7, 7) and first[1].dwell_s == 300.0


def test_window_closing_ends_the_stay_and_next_opening_starts_afresh() -> None:
    a = windowed()
    evening = datetime(2026, 7, 1, 18, 50, tzinfo=SHANGHAI)
    events = drive(a, evening, range(0, 1200, 10), CAR)  # 18:50 to 19:10, the car never moves
    assert [(w.time(), e.phase) for w, e in events] == [
        (time(18, 55), "start"),
        (time(18, 56), "update"),
        (time(18, 57), "update"),
        (time(18, 58), "update"),
        (time(18, 59), "update"),
        (time(19, 0), "end"),
    ]
    end = events[-1][1]
    assert (end.end_reason, end.dwell_s, end.incident_key) == ("window_closed", 590.0, "cam-1/zone-a/track-5")
    assert a.open_keys() == []
    # Still parked overnight (frames sparse enough not to matter): nothing until 07:05 the next morning.
    night = drive(a, evening, range(1200, 12 * 3600 + 20 * 60, 60), CAR)
    (start,) = [(w, e) for w, e in night if e.phase == "start"]
    assert start[0] == datetime(2026, 7, 2, 7, 5, tzinfo=SHANGHAI) and start[1].dwell_s == 300.0


def test_no_stay_counts_outside_the_windows() -> None:
    a = windowed()
    saturday = datetime(2026, 7, 4, 9, 0, tzinfo=SHANGHAI)
    assert drive(a, saturday, range(0, 3600, 30), CAR) == []
    holiday = windowed(holidays=["2026-07-01"])
    assert drive(holiday, WED_0650, range(0, 3600, 30), CAR) == []


def test_vehicle_leaving_ends_with_reason_left() -> None:
    a = windowed()
    events = drive(a, datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI), range(0, 400, 10), CAR)
    events += drive(a, datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI), range(400, 520, 10))  # past the 90 s hold
    assert [(e.phase, e.end_reason) for _, e in events] == [("start", None), ("update", None), ("end", "left")]
    wall, end = events[-1]
    assert wall.time() == time(9, 8, 10) and end.ago_s == 100.0  # decided at 09:08:10, dated at 09:06:30


def test_windowed_rule_needs_the_wall_clock() -> None:
    with pytest.raises(ValueError, match="needs the frame's wall time"):
        windowed().observe(0.0, tracked(CAR), FRAME)


def test_road_occupation_windows_end_with_a_reason_field() -> None:
    config = RoadOccupationRuleConfig(
        type="road_occupation",
        zones=["zone-a"],
        dwell_s=60,
        update_every_s=600,
        timezone="UTC",
        windows=[{"start": "07:00", "end": "19:00"}],
    )
    a = RoadOccupationAnalytic(
        "cam-s", config, [Zone(ZoneConfig(id="zone-a", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)]))]
    )
    image = np.zeros((100, 100, 3), np.uint8)
    coco = load_manifest().get("yolox_nano").classes
    stall = Detections.from_arrays([IN_ZONE], [0.9], [coco.index("dining table")], coco, tracker_id=[9])
    t0 = datetime(2026, 7, 1, 18, 57, tzinfo=UTC)
    findings = [
        f for s in range(0, 300, 15) for f in a.observe(FrameContext(float(s), t0 + timedelta(seconds=s), image, stall))
    ]
    assert [(f.phase, f.measurements["dwell_s"], f.extra.get("end_reason")) for f in findings] == [
        ("start", 60.0, None),
        ("end", 165.0, "window_closed"),
    ]


def test_pipeline_feeds_the_frame_time_and_reports_the_end_reason(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        """
version: 1
zones: [{id: kerb, polygon: [[0.2, 0.4], [0.8, 0.4], [0.8, 0.8], [0.2, 0.8]]}]
analytics:
  - {type: parking, id: parking.kerb, zones: [kerb], dwell_s: 5, leave_after_s: 5, timezone: Asia/Shanghai,
     windows: [{days: [mon, tue, wed, thu, fri], start: "07:00", end: "19:00"}]}
"""
    )
    camera = CameraConfig(camera_id="cam-p", source="x.jpg", rules=rules)
    recorder = ListRecorder()
    pipeline = CameraPipeline(camera, load_rules(rules), OneCarDetector(), recorder, LatencyWindow())
    image = np.zeros((100, 100, 3), np.uint8)
    t0 = datetime(2026, 7, 1, 18, 59, 50, tzinfo=SHANGHAI)
    for n in range(0, 20, 2):
        pipeline.process(Frame(image, t0 + timedelta(seconds=n), 500.0 + n, n))
    events = [Event.model_validate({**e, "seq": n}) for n, e in enumerate(recorder.events, start=1)]
    # The tracker confirms the car on its second frame (18:59:52); the end comes with the first frame at 19:00.
    assert [(e.phase, e.ts.astimezone(SHANGHAI).time(), e.measurements["dwell_s"]) for e in events] == [
        ("start", time(18, 59, 58), 6.0),
        ("end", time(19, 0), 6.0),
    ]
    assert recorder.events[1]["end_reason"] == "window_closed" and "end_reason" not in recorder.events[0]


# --- one vehicle, one stay: occlusions, id switches, a vehicle leaving for real -----------------------------------

BUS = ([5, 10, 95, 75], 5, 90, 0.9)  # a bus stopped in front of the parked car: the car's box is a small part of it


def held(**extra) -> ParkingAnalytic:
    return make(dwell_s=60, update_every_s=600, leave_after_s=5, occlusion_hold_s=90, **extra)


def test_a_30_s_occlusion_keeps_one_stay_with_one_start_and_one_end() -> None:
    a = held()
    car = (IN_ZONE, 2, 7, 0.8)
    events = [e for t in range(0, 40) for e in run(a, float(t), car)]
    events += [e for t in range(40, 70) for e in run(a, float(t), BUS)]  # the bus hides the car for 30 s
    events += [e for t in range(70, 100) for e in run(a, float(t), car)]  # bus gone: the same car, same place
    events += [e for t in range(100, 300, 5) for e in run(a, float(t))]  # then the car drives off unseen
    assert [(e.phase, e.incident_key, e.dwell_s) for e in events] == [
        # Its dwell ran on behind the bus: the start comes with the first sighting after it (70 s), not at 130 s.
        ("start", "cam-1/zone-a/track-7", 70.0),
        ("end", "cam-1/zone-a/track-7", 99.0),
    ]
    assert events[-1].end_reason == "left"


def test_repeated_short_gaps_with_new_ids_still_alarm_at_the_dwell_threshold() -> None:
    # Each 4 s gap (a passer-by, a score dip) comes back under a new track id at the same place.
    a = held()
    events = []
    for n, t0 in enumerate(range(0, 120, 10)):
        car = ([40 + n % 2, 30, 60 + n % 2, 60], 2, 100 + n, 0.8)  # a pixel of box jitter between sightings
        events += [e for t in range(t0, t0 + 6) for e in run(a, float(t), car)]
    (start,) = events
    assert (start.phase, start.dwell_s, start.incident_key) == ("start", 60.0, "cam-1/zone-a/track-100")


def test_a_vehicle_that_leaves_ends_after_the_hold_dated_at_its_last_sighting() -> None:
    a = held()
    car = (IN_ZONE, 2, 7, 0.8)
    events = [e for t in range(0, 80) for e in run(a, float(t), car)]  # last seen at 79
    for t in range(80, 169):
        assert run(a, float(t)) == []  # still held: it might be behind something
    (end,) = run(a, 170.0)
    assert (end.phase, end.end_reason, end.dwell_s, end.ago_s) == ("end", "left", 79.0, 91.0)
    assert [e.phase for e in events] == ["start"]


def test_a_vehicle_seen_driving_off_ends_without_the_hold() -> None:
    a = held()
    for t in range(0, 80):
        run(a, float(t), (IN_ZONE, 2, 7, 0.8))
    events = [
        e for t in range(80, 90) for e in run(a, float(t), (OUT_OF_ZONE, 2, 7, 0.8))
    ]  # its track, out of the zone
    assert [(e.phase, e.end_reason, e.ago_s) for e in events] == [("end", "left", 6.0)]


def test_an_id_switch_at_the_same_place_continues_the_stay() -> None:
    a = held()
    events = [e for t in range(0, 50) for e in run(a, float(t), (IN_ZONE, 2, 7, 0.8))]
    # The detector's box shape jumps (truck <-> car) and the tracker hands out a new id; the car has not moved.
    events += [e for t in range(50, 200) for e in run(a, float(t), ([41, 31, 61, 60], 7, 8, 0.7))]
    assert [(e.phase, e.incident_key, e.dwell_s) for e in events] == [("start", "cam-1/zone-a/track-7", 60.0)]
    assert a.open_keys() == ["cam-1/zone-a/track-7"]
    assert events[0].object_classes == ("car", "truck")


def test_a_passing_car_overlapping_the_spot_keeps_the_hidden_stay_and_gets_none_of_its_own() -> None:
    a = held()
    for t in range(0, 70):
        run(a, float(t), (IN_ZONE, 2, 7, 0.8))
    # A car drives past right through the spot; the parked one is hidden behind it for a few frames.
    passing = [e for x in range(0, 60, 4) for e in run(a, 70 + x / 4, ([x, 30, x + 22, 60], 2, 9, 0.9))]
    back = [e for t in range(90, 200) for e in run(a, float(t), (IN_ZONE, 2, 7, 0.8))]
    assert passing == [] and back == []
    assert a.open_keys() == ["cam-1/zone-a/track-7"]


def test_close_ends_every_open_stay_with_the_reason() -> None:
    a = held()
    for t in range(0, 70):
        run(a, float(t), (IN_ZONE, 2, 7, 0.8), ([60, 30, 75, 60], 2, 8, 0.8))
    # Track 8 arrived with track 7 and started with it; track 9 is too new to have started.
    run(a, 70.0, (IN_ZONE, 2, 7, 0.8), ([22, 30, 37, 60], 2, 9, 0.8))
    events = a.close(75.0, "rules_changed")
    assert sorted((e.incident_key, e.end_reason, e.ago_s) for e in events) == [
        ("cam-1/zone-a/track-7", "rules_changed", 5.0),
        ("cam-1/zone-a/track-8", "rules_changed", 6.0),
    ]
    assert a.open_keys() == [] and a.close(80.0, "agent_stopped") == []
