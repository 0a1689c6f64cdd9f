"""ByteTrack-style multi-object tracker with re-association of stationary vehicles (pure numpy).

Per frame:
1. Detections split into high-score (>= `high_score`) and low-score ones.
2. High-score detections are matched to every live track (confirmed, tentative, recently lost) by IoU against the
   track's constant-velocity prediction.
3. Low-score detections are matched to the confirmed tracks still unmatched: a car half hidden by a passing bus
   scores low, and that is exactly when its identity must hold (the "BYTE" idea).
4. Unmatched high-score detections open tentative tracks; a tentative track is confirmed after `min_hits`
   consecutive frames. On confirmation a *stationary* newcomer that sits where a *stationary* track was recently
   lost takes over the lost track's id and first-seen time: a parked car keeps its identity (and so its dwell time)
   across occlusions longer than the normal lost buffer and across detector-induced id switches (box shape jumps
   that break IoU matching).

Matching is greedy by best IoU first (optimal enough for sparse, slow street scenes; no scipy needed) and
class-agnostic, because detectors flicker between car and truck for the same vehicle. Ids come from `id_source`
(a durable allocator in the agent), so they never repeat across restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_agent.detections import Detections
from edge_agent.tracking.ids import CountingIds
from edge_agent.tracking.iou import box_iou


@dataclass(frozen=True, slots=True)
class ByteTrackConfig:
    high_score: float = 0.5
    """Detections at or above this start tracks and are matched first."""
    match_iou: float = 0.3
    """Least IoU for the first (high-score) association."""
    low_match_iou: float = 0.5
    """Least IoU for the second association of low-score detections (stricter: they are less certain)."""
    min_hits: int = 2
    """Consecutive frames before a new track is reported; one-frame false positives never get an id."""
    max_lost_s: float = 5.0
    """How long a lost track stays matchable by IoU."""
    stationary_lost_s: float = 120.0
    """How long a lost *stationary* track waits to be re-associated to a new stationary track."""
    stationary_speed: float = 0.05
    """Centre speed in box diagonals per second below which a track counts as stationary."""
    reassoc_iou: float = 0.3
    reassoc_centre: float = 0.35
    """Re-association also accepts a centre distance up to this many box diagonals (box shape may change)."""
    velocity_smoothing: float = 0.5
    """EMA weight of the newest velocity measurement."""


@dataclass(slots=True, eq=False)  # a track is an identity: list.remove() must not compare numpy boxes by value
class TrackState:
    xyxy: np.ndarray
    class_id: int
    confidence: float
    first_seen: float
    last_seen: float
    track_id: int = 0
    """0 while tentative (ids are only spent on confirmed tracks)."""
    hits: int = 1
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=np.float32))
    """Centre velocity in pixels per second (EMA)."""
    moved: bool = True
    """False once the smoothed speed stays under the stationary threshold."""

    @property
    def confirmed(self) -> bool:
        return self.track_id > 0

    def centre(self) -> np.ndarray:
        return (self.xyxy[:2] + self.xyxy[2:]) / 2

    def diagonal(self) -> float:
        return float(np.hypot(*(self.xyxy[2:] - self.xyxy[:2]))) or 1.0

    def predicted(self, now: float) -> np.ndarray:
        # Cap the horizon: a long-lost track extrapolated for seconds drifts away from where it will reappear.
        dt = min(now - self.last_seen, 1.0)
        shift = self.velocity * dt
        return self.xyxy + np.concatenate([shift, shift])


class ByteTracker:
    def __init__(self, config: ByteTrackConfig | None = None, id_source: Callable[[], int] | None = None) -> None:
        self.config = config or ByteTrackConfig()
        self.id_source = id_source or CountingIds()
        self._tracks: list[TrackState] = []
        self.reassociated = 0
        """How many new tracks took over a lost stationary track's id (for health and tests)."""

    @property
    def tracks(self) -> list[TrackState]:
        return list(self._tracks)

    def first_seen(self, track_id: int) -> float | None:
        return next((t.first_seen for t in self._tracks if t.track_id == track_id), None)

    def update(self, detections: Detections, now: float) -> Detections:
        """Match one frame's detections (`now` monotonic seconds); returns the detections of confirmed tracks only,
        carrying their track ids, in input order."""
        cfg = self.config
        self._expire(now)
        n = len(detections)
        det_track: list[TrackState | None] = [None] * n
        high = np.nonzero(detections.confidence >= cfg.high_score)[0]
        low = np.nonzero(detections.confidence < cfg.high_score)[0]

        pool = list(self._tracks)
        matched = self._associate(pool, high, detections, now, cfg.match_iou, det_track)
        rest = [t for t in pool if id(t) not in matched and t.confirmed and now - t.last_seen <= cfg.max_lost_s]
        self._associate(rest, low, detections, now, cfg.low_match_iou, det_track)

        # Tentative tracks must be seen on consecutive frames; a miss ends them.
        touched = {id(t) for t in det_track if t is not None}
        self._tracks = [t for t in self._tracks if t.confirmed or id(t) in touched]
        for di in high:
            if det_track[di] is None:
                track = self._new_track(detections, int(di), now)
                det_track[di] = track
        for track in {id(t): t for t in det_track if t is not None}.values():
            if not track.confirmed and track.hits >= cfg.min_hits:
                self._confirm(track, now)

        ids = np.array([t.track_id if t is not None else 0 for t in det_track], dtype=np.int64)
        keep = ids > 0
        return detections[keep].with_tracker_ids(ids[keep])

    # -- internals -----------------------------------------------------------------------------------------

    def _associate(
        self,
        tracks: list[TrackState],
        det_index: np.ndarray,
        detections: Detections,
        now: float,
        min_iou: float,
        det_track: list[TrackState | None],
    ) -> set[int]:
        """Greedy IoU matching of `tracks` to the detections `det_index`; updates matched tracks in place."""
        if not tracks or len(det_index) == 0:
            return set()
        predicted = np.stack([t.predicted(now) for t in tracks]).astype(np.float32)
        iou = box_iou(predicted, detections.xyxy[det_index])
        done_tracks: set[int] = set()
        done_dets: set[int] = set()
        for flat in np.argsort(-iou, axis=None, kind="stable"):
            ti, dj = divmod(int(flat), len(det_index))
            if iou[ti, dj] < min_iou:
                break
            if ti in done_tracks or dj in done_dets:
                continue
            done_tracks.add(ti)
            done_dets.add(dj)
            di = int(det_index[dj])
            self._refresh(tracks[ti], detections, di, now)
            det_track[di] = tracks[ti]
        return {id(tracks[i]) for i in done_tracks}

    def _refresh(self, track: TrackState, detections: Detections, di: int, now: float) -> None:
        cfg = self.config
        box = detections.xyxy[di].astype(np.float32)
        dt = now - track.last_seen
        if dt > 0:
            measured = ((box[:2] + box[2:]) / 2 - track.centre()) / dt
            a = cfg.velocity_smoothing
            track.velocity = (a * measured + (1 - a) * track.velocity).astype(np.float32)
        track.xyxy = box
        track.class_id = int(detections.class_id[di])
        track.confidence = float(detections.confidence[di])
        track.last_seen = now
        track.hits += 1
        track.moved = float(np.hypot(*track.velocity)) / track.diagonal() >= cfg.stationary_speed

    def _new_track(self, detections: Detections, di: int, now: float) -> TrackState:
        track = TrackState(
            xyxy=detections.xyxy[di].astype(np.float32),
            class_id=int(detections.class_id[di]),
            confidence=float(detections.confidence[di]),
            first_seen=now,
            last_seen=now,
        )
        self._tracks.append(track)
        return track

    def _confirm(self, track: TrackState, now: float) -> None:
        lost = self._reassociation_candidate(track, now)
        if lost is None:
            track.track_id = self.id_source()
            return
        # Same parked vehicle: continue the old identity and its history.
        track.track_id, track.first_seen = lost.track_id, lost.first_seen
        self._tracks.remove(lost)
        self.reassociated += 1

    def _reassociation_candidate(self, track: TrackState, now: float) -> TrackState | None:
        cfg = self.config
        if track.moved:
            return None
        lost = [t for t in self._tracks if t.confirmed and t.last_seen < now and not t.moved]
        if not lost:
            return None
        boxes = np.stack([t.xyxy for t in lost]).astype(np.float32)
        iou = box_iou(boxes, track.xyxy[None, :])[:, 0]
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        diagonal = np.maximum(np.hypot(*(boxes[:, 2:] - boxes[:, :2]).T), 1.0)
        distance = np.hypot(*(centres - track.centre()).T) / diagonal
        ok = (iou >= cfg.reassoc_iou) | (distance <= cfg.reassoc_centre)
        if not ok.any():
            return None
        # Prefer the best overlap, then the closest centre.
        order = np.lexsort((distance, -iou))
        best = next(int(i) for i in order if ok[i])
        return lost[best]

    def _expire(self, now: float) -> None:
        cfg = self.config

        def alive(t: TrackState) -> bool:
            age = now - t.last_seen
            return age <= cfg.max_lost_s or (t.confirmed and not t.moved and age <= cfg.stationary_lost_s)

        self._tracks = [t for t in self._tracks if alive(t)]
