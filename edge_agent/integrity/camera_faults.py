"""Camera fault detection over small grey frames: offline, frozen, occluded, moved, defocused.

Pure: frames and monotonic times in, `camera_fault` findings out; no clock, video or I/O, so it is tested on real
footage with synthetic corruptions. Each frame is reduced to a few measurements:
- `diff`: mean absolute grey difference to the previous frame (0 when a decoder repeats one frame);
- `blank`: fraction of an 8x6 grid of blocks that are flat (a lens cap, a cloth, paint, a dark cover);
- `shift`/`response`: phase correlation against a stored reference view (how far, and how surely, the view moved);
- `sharpness`: variance of the Laplacian, compared with the reference's (focus lost, a wet or fogged dome).

A fault starts once its condition has held for its hold time and ends after it has been clear for `clear_s`
(hysteresis: a bus passing in front of the camera for a few seconds is not a fault). A covered camera is not also
reported as moved or defocused, and a moved one not as defocused: one cause, one incident.

The pipeline analyses at most `max_checks_per_s` frames a second (`due`): every threshold is in seconds, and a
reduction plus phase correlation on every frame of a fast camera would take CPU from the inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from edge_agent.analytics.finding import AlgorithmRef, Finding
from edge_agent.integrity.config import IntegrityConfig

KIND = "camera_fault"
ALGORITHM = AlgorithmRef(name="camera_integrity", version="1")
Subtype = Literal["offline", "frozen", "occluded", "moved", "defocused"]
SUBTYPES: tuple[Subtype, ...] = ("offline", "frozen", "occluded", "moved", "defocused")
GRID = (8, 6)


@dataclass(frozen=True, slots=True)
class FrameMeasures:
    diff: float | None
    blank: float
    shift: float | None
    """View shift against the reference in frame widths; None without a reference."""
    response: float | None
    sharpness: float
    sharpness_ratio: float | None


def to_analysis_grey(image_bgr: np.ndarray, width: int = 320) -> np.ndarray:
    """Downscaled float32 grey frame: everything this module looks at (a few hundred microseconds per frame)."""
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr
    height = max(16, round(grey.shape[0] * width / grey.shape[1]))
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


def blank_fraction(grey: np.ndarray, block_std: float) -> float:
    cols, rows = GRID
    h, w = grey.shape[0] // rows * rows, grey.shape[1] // cols * cols
    blocks = grey[:h, :w].reshape(rows, h // rows, cols, w // cols)
    return float((blocks.std(axis=(1, 3)) < block_std).mean())


def sharpness(grey: np.ndarray) -> float:
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


@dataclass(slots=True)
class _Hysteresis:
    hold_s: float
    true_since: float | None = None
    false_since: float | None = None
    active_since: float | None = None

    def update(self, now: float, condition: bool, clear_s: float) -> Literal["start", "end"] | None:
        if condition:
            self.false_since = None
            if self.true_since is None:
                self.true_since = now
            if self.active_since is None and now - self.true_since >= self.hold_s:
                self.active_since = self.true_since
                return "start"
            return None
        self.true_since = None
        if self.active_since is not None:
            if self.false_since is None:
                self.false_since = now
            if now - self.false_since >= clear_s:
                self.active_since, self.false_since = None, None
                return "end"
        return None


class CameraFaultDetector:
    def __init__(self, camera_id: str, config: IntegrityConfig, check_frozen: bool = True) -> None:
        self.camera_id = camera_id
        self.config = config
        self.check_frozen = check_frozen if config.check_frozen is None else config.check_frozen
        self.reference: np.ndarray | None = None
        self.reference_sharpness = 0.0
        self.reference_blank = 0.0
        self.last = None  # type: FrameMeasures | None
        self._prev: np.ndarray | None = None
        self._last_frame: float | None = None
        self._last_check: float | None = None
        self._started: float | None = None
        self._healthy_since: float | None = None
        self._reference_at = 0.0
        self._window: np.ndarray | None = None
        c = config
        # offline's condition already spans offline_s (time since the last frame): no further hold.
        holds = {
            "offline": 0.0,
            "frozen": c.frozen_s,
            "occluded": c.occluded_s,
            "moved": c.moved_s,
            "defocused": c.defocused_s,
        }
        self._state = {s: _Hysteresis(holds[s]) for s in SUBTYPES}

    def active(self) -> dict[str, float]:
        """Faults now open: subtype -> monotonic time the condition began."""
        return {s: h.active_since for s, h in self._state.items() if h.active_since is not None}

    def due(self, now: float) -> bool:
        """Whether a frame arriving at `now` should be analysed (`observe`d): at most `max_checks_per_s` a second.

        The pipeline asks before reducing the frame, so a skipped frame costs nothing. A frame whose time is up to
        1 ms early still counts as due, so a camera at exactly 2x the rate is not halved again by jitter.
        """
        if self._last_check is None:
            return True
        return now - self._last_check >= 1.0 / self.config.max_checks_per_s - 1e-3

    def tick(self, now: float) -> list[Finding]:
        """Call when no frame arrived (the pipeline's idle poll): drives the offline fault."""
        if self._started is None:
            self._started = now
        quiet = now - (self._last_frame if self._last_frame is not None else self._started)
        return self._step(now, "offline", quiet >= self.config.offline_s, {"offline_s": round(quiet, 1)})

    def observe(self, now: float, grey: np.ndarray) -> list[Finding]:
        """One analysed frame, as from `to_analysis_grey`."""
        cfg = self.config
        if self._started is None:
            self._started = now
        m = self.measure(grey)
        self.last = m
        self._prev, self._last_frame, self._last_check = grey, now, now
        findings = self._step(now, "offline", False, {})
        occluded = m.blank >= cfg.occluded_fraction and (
            self.reference is None or m.blank - self.reference_blank >= cfg.occluded_margin
        )
        # A covered lens often yields identical frames too: report the cause (occluded), not both.
        frozen = self.check_frozen and not occluded and m.diff is not None and m.diff <= cfg.frozen_max_diff
        blurred = m.sharpness_ratio is not None and m.sharpness_ratio <= cfg.defocus_ratio
        # Phase correlation of a picture that lost most of its detail measures noise: its shift is no evidence of a
        # move (a defocused top-down car park was reported as moved, bench/event_quality's lot clip). A view that
        # really moved keeps detail of its own (sharpness ratio 0.35-1.3 there; 0.007 when defocused).
        featureless = m.sharpness_ratio is not None and m.sharpness_ratio <= cfg.defocus_ratio / 2
        moved = (
            not occluded
            and not featureless
            and m.shift is not None
            and (m.shift >= cfg.moved_shift or (m.response is not None and m.response < cfg.moved_min_response))
        )
        defocused = not occluded and not moved and blurred
        findings += self._step(now, "frozen", frozen, {"frame_diff": round(m.diff or 0.0, 3)})
        findings += self._step(now, "occluded", occluded, {"blank_fraction": round(m.blank, 3)})
        findings += self._step(
            now, "moved", moved, {"shift": round(m.shift or 0.0, 4), "match_response": round(m.response or 0.0, 3)}
        )
        findings += self._step(now, "defocused", defocused, {"sharpness_ratio": round(m.sharpness_ratio or 0.0, 3)})
        self._maybe_take_reference(now, grey, m, frozen or occluded or moved or defocused)
        return findings

    def measure(self, grey: np.ndarray) -> FrameMeasures:
        cfg = self.config
        diff = None
        if self._prev is not None and self._prev.shape == grey.shape:
            diff = float(np.abs(grey - self._prev).mean())
        sharp = sharpness(grey)
        shift = response = ratio = None
        if self.reference is not None and self.reference.shape == grey.shape:
            if self._window is None or self._window.shape != grey.shape:
                self._window = cv2.createHanningWindow((grey.shape[1], grey.shape[0]), cv2.CV_32F)
            # Window applied here, not by OpenCV: phaseCorrelate windows its float32 inputs in place.
            (dx, dy), response = cv2.phaseCorrelate(self.reference * self._window, grey * self._window)
            shift = float(np.hypot(dx, dy)) / grey.shape[1]
            ratio = sharp / self.reference_sharpness if self.reference_sharpness > 0 else None
        return FrameMeasures(diff, blank_fraction(grey, cfg.blank_block_std), shift, response, sharp, ratio)

    def set_reference(self, grey: np.ndarray, now: float) -> None:
        self.reference, self.reference_sharpness, self._reference_at = grey.copy(), sharpness(grey), now
        self.reference_blank = blank_fraction(grey, self.config.blank_block_std)

    def _maybe_take_reference(self, now: float, grey: np.ndarray, m: FrameMeasures, suspicious: bool) -> None:
        cfg = self.config
        if suspicious or self.active():
            self._healthy_since = None
            return
        if self._healthy_since is None:
            self._healthy_since = now
        healthy_for = now - self._healthy_since
        if self.reference is None:
            if healthy_for >= cfg.reference_after_s:
                self.set_reference(grey, now)
            return
        # Follow slow light changes (dusk, street lights), but never absorb a view that drifted or softened.
        similar = (m.shift or 0.0) < cfg.moved_shift / 4 and 0.7 <= (m.sharpness_ratio or 1.0) <= 1.5
        if similar and now - self._reference_at >= cfg.reference_refresh_s:
            self.set_reference(grey, now)

    def _step(self, now: float, subtype: Subtype, condition: bool, measurements: dict[str, float]) -> list[Finding]:
        state = self._state[subtype]
        began = state.true_since if state.active_since is None else state.active_since
        phase = state.update(now, condition, self.config.clear_s)
        if phase is None:
            return []
        duration = round(max(now - (began if began is not None else now), 0.0), 1)
        return [
            Finding(
                kind=KIND,
                subtype=subtype,
                phase=phase,
                incident_key=f"{self.camera_id}/fault/{subtype}",
                confidence=1.0,
                # start: what was measured and for how long; end: how long the fault lasted in all
                measurements={**measurements, "duration_s": duration} if phase == "start" else {"duration_s": duration},
                label=f"camera {subtype} {phase}",
                algorithm=ALGORITHM,
            )
        ]
