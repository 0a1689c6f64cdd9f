"""ByteTracker and durable track ids on synthetic detection sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_agent.comms.outbox import Outbox
from edge_agent.detections import Detections
from edge_agent.tracking import ByteTrackConfig, ByteTracker, TrackIdAllocator

NAMES = ("car", "truck", "person")


def dets(*rows: tuple[list[float], float]) -> Detections:
    """rows of (box, score), all cars."""
    return Detections.from_arrays([r[0] for r in rows], [r[1] for r in rows], [0] * len(rows), NAMES)


def ids(tracker: ByteTracker, frame: Detections, now: float) -> list[int]:
    return tracker.update(frame, now).tracker_id.tolist()


PARKED = [100, 100, 200, 160]


def test_new_tracks_need_two_hits_and_one_frame_noise_gets_no_id() -> None:
    tracker = ByteTracker(ByteTrackConfig(min_hits=2))
    assert ids(tracker, dets((PARKED, 0.9), ([400, 10, 420, 30], 0.9)), 0.0) == []
    assert ids(tracker, dets((PARKED, 0.9)), 0.5) == [1]  # the second box vanished after one frame: never an id
    assert ids(tracker, dets((PARKED, 0.9)), 1.0) == [1]


def test_low_score_detection_keeps_a_confirmed_track_alive_but_cannot_start_one() -> None:
    tracker = ByteTracker(ByteTrackConfig(high_score=0.5, min_hits=1))
    assert ids(tracker, dets((PARKED, 0.8)), 0.0) == [1]
    # Half hidden: the score drops under high_score; the second association still holds the identity.
    assert ids(tracker, dets(([102, 101, 201, 161], 0.2)), 0.5) == [1]
    assert ids(tracker, dets(([500, 300, 560, 340], 0.2)), 1.0) == []  # low score alone never opens a track


def drive(tracker: ByteTracker) -> list[int]:
    """A car accelerating to 24 px per frame; boxes 40 wide, so late steps overlap by IoU 0.25 without prediction."""
    seen, x = [], 20.0
    for k in range(10):
        seen += ids(tracker, dets(([x, 50, x + 40, 80], 0.9)), 0.5 * k)
        x += 6 + 2 * k
    return seen


def test_moving_vehicle_is_followed_by_constant_velocity_prediction() -> None:
    assert drive(ByteTracker(ByteTrackConfig(min_hits=1, match_iou=0.5))) == [1] * 10
    # The same sequence without velocity (smoothing 0 keeps it at zero) loses the car: prediction is what holds it.
    assert len(set(drive(ByteTracker(ByteTrackConfig(min_hits=1, match_iou=0.5, velocity_smoothing=0.0))))) > 1


def test_parked_car_keeps_identity_across_long_occlusion_and_id_switch() -> None:
    cfg = ByteTrackConfig(min_hits=2, max_lost_s=2.0, stationary_lost_s=60.0, match_iou=0.5)
    tracker = ByteTracker(cfg)
    t = 0.0
    for _ in range(10):  # parked, seen for 5 s
        out = ids(tracker, dets((PARKED, 0.9)), t)
        t += 0.5
    assert out == [1]
    first_seen = tracker.first_seen(1)
    t += 20.0  # a bus hides it for 20 s: far longer than max_lost_s
    # It comes back with a differently shaped box (IoU with the old box under match_iou: a would-be id switch).
    back = [100, 70, 230, 165]  # IoU 0.49 with the old box, centre 0.17 diagonals away
    assert ids(tracker, dets((back, 0.9)), t) == []  # tentative
    assert ids(tracker, dets((back, 0.9)), t + 0.5) == [1]
    assert tracker.reassociated == 1 and tracker.first_seen(1) == first_seen


def test_a_car_arriving_where_a_moving_one_was_lost_gets_a_new_id() -> None:
    tracker = ByteTracker(ByteTrackConfig(min_hits=1, max_lost_s=1.0))
    for k in range(4):  # drives through
        driven = ids(tracker, dets(([100 + 10 * k, 100, 160 + 10 * k, 140], 0.9)), 0.5 * k)
    assert driven == [1]
    # It stops out of view; a car parks right where it was last seen: the moving track expired, fresh identity.
    assert ids(tracker, dets(([130, 100, 190, 140], 0.9)), 10.0) == [2]


def test_two_parked_cars_keep_their_ids_when_listed_in_any_order() -> None:
    tracker = ByteTracker(ByteTrackConfig(min_hits=1))
    a, b = ([10, 10, 50, 40], 0.9), ([100, 10, 150, 40], 0.8)
    assert ids(tracker, dets(a, b), 0.0) == [1, 2]
    assert ids(tracker, dets(b, a), 0.5) == [2, 1]


def test_track_ids_continue_after_restart_and_never_repeat(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    alloc = TrackIdAllocator(outbox, "cam-1", block=10)
    first_run = [alloc() for _ in range(13)]
    other_camera = TrackIdAllocator(outbox, "cam-2", block=10)
    assert other_camera() == 1  # per camera
    outbox.close()

    outbox = Outbox(path)  # restart (or a crash: the reservation was written before ids were used)
    second_run = [TrackIdAllocator(outbox, "cam-1", block=10)() for _ in range(1)]
    assert first_run == list(range(1, 14))
    assert second_run[0] > max(first_run)
    tracker = ByteTracker(ByteTrackConfig(min_hits=1), id_source=TrackIdAllocator(outbox, "cam-3"))
    assert ids(tracker, dets((PARKED, 0.9)), 0.0) == [1]
    outbox.close()
    reopened = Outbox(path)
    tracker = ByteTracker(ByteTrackConfig(min_hits=1), id_source=TrackIdAllocator(reopened, "cam-3"))
    assert ids(tracker, dets((PARKED, 0.9)), 0.0) != [1]


def test_output_only_carries_confirmed_tracks_in_input_order() -> None:
    tracker = ByteTracker(ByteTrackConfig(min_hits=2))
    frame = dets(([0, 0, 10, 10], 0.9), ([50, 50, 60, 60], 0.9))
    tracker.update(frame, 0.0)
    out = tracker.update(frame, 0.5)
    assert np.array_equal(out.xyxy, frame.xyxy) and out.tracker_id.tolist() == [1, 2]
