"""A greedy IoU tracker that keeps an id through short misses.

Parked vehicles barely move, so overlap with the last box is a reliable match; a detector that misses a car for
a few frames (occlusion by a pedestrian, a score dip) must not give it a new id, or its dwell time would restart.
Matching is class-agnostic because detectors flicker between car and truck for the same vehicle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.detections import Detections
from edge_agent.tracking.iou import box_iou


@dataclass(slots=True)
class Track:
    track_id: int
    xyxy: np.ndarray
    class_id: int
    confidence: float
    first_seen: float
    last_seen: float
    hits: int = 1


class IouTracker:
    def __init__(self, iou_threshold: float = 0.3, max_age_s: float = 5.0, first_id: int = 1) -> None:
        """`max_age_s`: how long an unseen track is kept so that a returning detection gets its old id."""
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self._next_id = first_id
        self._tracks: list[Track] = []

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def update(self, detections: Detections, now: float) -> Detections:
        """Assign a track id to every detection (new tracks for unmatched ones); `now` in seconds, monotonic."""
        self._tracks = [t for t in self._tracks if now - t.last_seen <= self.max_age_s]
        ids = np.zeros(len(detections), dtype=np.int64)
        matched_det = np.zeros(len(detections), dtype=bool)
        if self._tracks and len(detections):
            iou = box_iou(np.stack([t.xyxy for t in self._tracks]), detections.xyxy)
            matched_track = np.zeros(len(self._tracks), dtype=bool)
            # Greedy by best overlap first: optimal enough for sparse, slow scenes and O(N*M log).
            for flat in np.argsort(-iou, axis=None):
                ti, di = divmod(int(flat), len(detections))
                if iou[ti, di] < self.iou_threshold:
                    break
                if matched_track[ti] or matched_det[di]:
                    continue
                matched_track[ti] = matched_det[di] = True
                track = self._tracks[ti]
                track.xyxy = detections.xyxy[di].copy()
                track.class_id = int(detections.class_id[di])
                track.confidence = float(detections.confidence[di])
                track.last_seen = now
                track.hits += 1
                ids[di] = track.track_id
        for di in np.nonzero(~matched_det)[0]:
            track = Track(
                track_id=self._next_id,
                xyxy=detections.xyxy[di].copy(),
                class_id=int(detections.class_id[di]),
                confidence=float(detections.confidence[di]),
                first_seen=now,
                last_seen=now,
            )
            self._next_id += 1
            self._tracks.append(track)
            ids[di] = track.track_id
        return detections.with_tracker_ids(ids)
