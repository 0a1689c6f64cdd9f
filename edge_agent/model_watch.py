"""Does a new model still see what the old one saw? A model that loads and warms up can still be wrong for this
camera (a bad export, other classes, a broken preprocessing): the agent watches its detection rate for a while
after a `model_update` and swaps the previous model back when the rate collapses.

Pure: the agent hands it the cameras' running totals (frames, confident detections of the rules' classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["watching", "kept", "rolled_back", "not_judged"]


@dataclass(frozen=True, slots=True)
class Totals:
    frames: int
    detections: int

    def rate_since(self, earlier: Totals) -> float | None:
        frames = self.frames - earlier.frames
        return (self.detections - earlier.detections) / frames if frames > 0 else None


class ModelWatch:
    """`baseline`: the old model's rate (detections per frame) since it was loaded; `start`: the totals when the new
    one took over. `rollback_below`: the share of the baseline under which the new model is rolled back."""

    def __init__(
        self, baseline: float | None, start: Totals, *, rollback_below: float, watch_frames: int, min_baseline: float
    ) -> None:
        self.baseline = baseline
        self.start = start
        self.rollback_below = rollback_below
        self.watch_frames = watch_frames
        self.min_baseline = min_baseline
        self.rate: float | None = None
        # A baseline too thin to compare with (an empty street at night, a fresh agent) cannot accuse a new model.
        self.verdict: Verdict = "watching" if baseline is not None and baseline >= min_baseline else "not_judged"

    def observe(self, now: Totals) -> Verdict:
        if self.verdict != "watching":
            return self.verdict
        if now.frames - self.start.frames < self.watch_frames:
            return self.verdict
        self.rate = now.rate_since(self.start)
        assert self.baseline is not None and self.rate is not None
        self.verdict = "rolled_back" if self.rate < self.rollback_below * self.baseline else "kept"
        return self.verdict

    def report(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "baseline_per_frame": None if self.baseline is None else round(self.baseline, 3),
            "new_per_frame": None if self.rate is None else round(self.rate, 3),
        }
