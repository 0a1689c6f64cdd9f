"""Tracks are identities: re-associating one parked car must not compare other tracks' numpy boxes by value.

Found by the edge benchmark on real footage (bench/edge): `list.remove` on value-compared dataclasses raised
"truth value of an array is ambiguous" as soon as another track preceded the re-associated one.
"""

from __future__ import annotations

from edge_agent.detections import Detections
from edge_agent.tracking import ByteTrackConfig, ByteTracker

NAMES = ("car",)
STAYS = [400, 100, 500, 160]  # a parked car that stays in view the whole time
HIDDEN = [100, 100, 200, 160]  # a parked car that a bus hides for 20 s


def dets(*boxes: list[int]) -> Detections:
    return Detections.from_arrays(list(boxes), [0.9] * len(boxes), [0] * len(boxes), NAMES)


def test_reassociation_with_other_tracks_before_the_lost_one() -> None:
    tracker = ByteTracker(ByteTrackConfig(min_hits=2, max_lost_s=2.0, stationary_lost_s=60.0, match_iou=0.5))
    t = 0.0
    for _ in range(10):
        out = tracker.update(dets(STAYS, HIDDEN), t)
        t += 0.5
    assert sorted(out.tracker_id.tolist()) == [1, 2]
    hidden_id = next(int(i) for i, box in zip(out.tracker_id, out.xyxy, strict=True) if box[0] < 300)
    for _ in range(40):  # 20 s: only the other car is seen
        tracker.update(dets(STAYS), t)
        t += 0.5
    back = [100, 70, 230, 165]  # the hidden car again, box shape changed (a would-be id switch)
    tracker.update(dets(STAYS, back), t)
    out = tracker.update(dets(STAYS, back), t + 0.5)
    assert sorted(out.tracker_id.tolist()) == sorted([1, 2])
    assert tracker.reassociated == 1
    returned = next(int(i) for i, box in zip(out.tracker_id, out.xyxy, strict=True) if box[0] < 300)
    assert returned == hidden_id
