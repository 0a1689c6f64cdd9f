"""An independent judge of face blurring: YOLOX finds the people (not YuNet, the detector that blurs) and the
detail in each person's head region is measured before and after (variance of the Laplacian). Blurring must
destroy most of it on every head; a judge built from the blurring detector itself would prove little."""

from __future__ import annotations

from functools import cache
from statistics import median

import cv2
import numpy as np

from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.models.manifest import ModelStore, load_manifest
from tests.shared_assets import MODELS_DIR, require_shared


@cache
def _people_detector():
    require_shared(MODELS_DIR / "yolox_nano.onnx")
    spec, path = ModelStore(load_manifest(), MODELS_DIR).resolve("yolox_nano")
    return create_detector(spec, path, DetectorOptions())


def head_regions(image_bgr: np.ndarray, min_score: float = 0.5) -> list[tuple[int, int, int, int]]:
    """The top 18 % of each confidently seen person, its middle 60 % wide: where the face is."""
    found = _people_detector().detect(image_bgr)
    people = found[found.class_mask(frozenset({"person"}))]
    regions = []
    for (x1, y1, x2, y2), score in zip(people.xyxy, people.confidence, strict=True):
        w, h = x2 - x1, y2 - y1
        region = (int(x1 + 0.2 * w), int(y1), int(x2 - 0.2 * w), int(y1 + 0.18 * h))
        if score >= min_score and region[2] - region[0] >= 8 and region[3] - region[1] >= 8:
            regions.append(region)
    return regions


def detail(image_bgr: np.ndarray, region: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = region
    grey = cv2.cvtColor(image_bgr[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def detail_kept(original: np.ndarray, blurred: np.ndarray) -> list[float]:
    """Per head found in `original`: the share of its detail left in `blurred` (1.0: untouched)."""
    return [detail(blurred, r) / max(detail(original, r), 1e-9) for r in head_regions(original)]


def assert_faces_blurred(original: np.ndarray, blurred: np.ndarray, min_heads: int = 5) -> None:
    kept = detail_kept(original, blurred)
    assert len(kept) >= min_heads, f"the judge found only {len(kept)} heads"
    # Head regions hold hair and background too, so even a perfect face blur keeps some of their detail.
    assert median(kept) <= 0.5 and max(kept) <= 0.85, f"detail kept per head: {[round(k, 2) for k in kept]}"
