"""Match predicted events to ground-truth intervals and count, per analytic, what an operator would see.

Pure: no I/O, no clock. An event is one incident (start .. end, seconds of video time) of one analytic in one zone
(None for camera-wide analytics such as camera integrity). A prediction matches a labelled interval of the same
analytic and zone when they overlap, the label widened by `tolerance_s` on both sides (an alarm a little late or
a stay ended a little early is still that stay). The first prediction of a labelled stay is its true positive;
any further one is a duplicate, counted as a false positive as well (an operator gets a second alarm).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Interval:
    analytic: str
    zone: str | None
    start: float
    end: float

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"{self.analytic} zone {self.zone}: end {self.end} is before start {self.start}")


@dataclass(slots=True)
class AnalyticScore:
    tp: int = 0
    fp: int = 0  # includes the duplicates
    fn: int = 0
    duplicates: int = 0
    start_errors: list[float] = field(default_factory=list)  # |predicted start - labelled start| per true positive

    @property
    def precision(self) -> float | None:
        predicted = self.tp + self.fp
        return self.tp / predicted if predicted else None

    @property
    def recall(self) -> float | None:
        labelled = self.tp + self.fn
        return self.tp / labelled if labelled else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mean_start_error_s(self) -> float | None:
        return sum(self.start_errors) / len(self.start_errors) if self.start_errors else None

    @property
    def max_start_error_s(self) -> float | None:
        return max(self.start_errors) if self.start_errors else None

    def merge(self, other: AnalyticScore) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.duplicates += other.duplicates
        self.start_errors.extend(other.start_errors)

    def as_dict(self) -> dict[str, float | int | None]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "duplicates": self.duplicates,
            "precision": r(self.precision),
            "recall": r(self.recall),
            "f1": r(self.f1),
            "mean_start_error_s": r(self.mean_start_error_s),
            "max_start_error_s": r(self.max_start_error_s),
        }


def _overlaps(p: Interval, t: Interval, tolerance_s: float) -> bool:
    return p.start <= t.end + tolerance_s and p.end >= t.start - tolerance_s


def score(truth: Iterable[Interval], predicted: Iterable[Interval], tolerance_s: float) -> dict[str, AnalyticScore]:
    """Per analytic scores of one clip (or of several, when their intervals cannot meet: merge per clip instead)."""
    if tolerance_s < 0:
        raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s}")
    truth = list(truth)
    predicted = sorted(predicted, key=lambda i: (i.start, i.end))
    scores: dict[str, AnalyticScore] = {i.analytic: AnalyticScore() for i in [*truth, *predicted]}
    matched: set[int] = set()
    for p in predicted:
        s = scores[p.analytic]
        same = [n for n, t in enumerate(truth) if (t.analytic, t.zone) == (p.analytic, p.zone)]
        candidates = [n for n in same if _overlaps(p, truth[n], tolerance_s)]
        if not candidates:
            s.fp += 1
            continue
        fresh = [n for n in candidates if n not in matched]
        if not fresh:  # every stay it overlaps already has its alarm
            s.fp += 1
            s.duplicates += 1
            continue
        best = min(fresh, key=lambda n: abs(truth[n].start - p.start))
        matched.add(best)
        s.tp += 1
        s.start_errors.append(abs(p.start - truth[best].start))
    for n, t in enumerate(truth):
        if n not in matched:
            scores[t.analytic].fn += 1
    return scores
