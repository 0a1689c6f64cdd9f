"""Camera fault detection on real footage with synthetic corruptions; prints precision and recall.

Real: the fixed-camera clips in ../shared/media (an indoor corridor with people walking, a parking lot with cars
driving through) and the still street picture with simulated sensor noise. Synthetic: the corruptions (a dark
cover, a cloth over most of the view, blur, a shifted or re-framed view, one repeated frame).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import cycle

import cv2
import numpy as np
import pytest
from edge_testkit import shared_file

from edge_agent.integrity.camera_faults import CameraFaultDetector, IntegrityConfig, to_analysis_grey

STEP_S = 0.5  # analysed at 2 fps, like the agent's default
CLEAN_S, FAULT_S = 12.0, 36.0


def video_frames(name: str, every: int, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(shared_file("media", name)))
    frames, index = [], 0
    while len(frames) < count and cap.grab():
        if index % every == 0:
            ok, image = cap.retrieve()
            assert ok
            frames.append(cv2.resize(image, (384, 216), interpolation=cv2.INTER_AREA))
        index += 1
    cap.release()
    assert len(frames) >= 40
    return frames


def noisy_still(count: int) -> list[np.ndarray]:
    """The still street as a live camera would show it: same view, fresh sensor noise in every frame."""
    image = cv2.resize(cv2.imread(str(shared_file("media", "mmdet_demo.jpg"))), (384, 256))
    rng = np.random.default_rng(7)
    return [np.clip(image + rng.normal(0, 2.0, image.shape), 0, 255).astype(np.uint8) for _ in range(count)]


def shift(image: np.ndarray, share: float = 0.08) -> np.ndarray:
    h, w = image.shape[:2]
    m = np.float32([[1, 0, w * share], [0, 1, h * share / 2]])
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def reframe(image: np.ndarray) -> np.ndarray:
    """Knocked by a ladder: the view now starts 12 % further right and 10 % lower, and zooms a little."""
    h, w = image.shape[:2]
    return cv2.resize(image[int(h * 0.10) :, int(w * 0.12) :], (w, h))


NOISE = np.random.default_rng(11)


def dark_cover(image: np.ndarray) -> np.ndarray:
    """A lens cap: dark, with the sensor's noise (so frames are not identical)."""
    return np.clip(12 + NOISE.normal(0, 1.5, image.shape), 0, 255).astype(np.uint8)


def cloth(image: np.ndarray) -> np.ndarray:
    """A cloth over the upper 85 % of the view: an out-of-focus surface with a soft shading gradient and noise."""
    out = image.copy()
    h = int(image.shape[0] * 0.85)
    shade = np.linspace(0, 20, h, dtype=np.float32)[:, None, None]
    cover = np.array([70, 80, 75], np.float32) + shade + NOISE.normal(0, 1.0, (h, image.shape[1], 3))
    out[:h] = np.clip(cover, 0, 255).astype(np.uint8)
    return out


CORRUPTIONS: dict[str, tuple[str | None, Callable[[np.ndarray], np.ndarray] | None]] = {
    "clean": (None, None),
    "dark_cover": ("occluded", dark_cover),
    "cloth": ("occluded", cloth),
    "blur": ("defocused", lambda im: cv2.GaussianBlur(im, (17, 17), 0)),
    "shift": ("moved", shift),
    "reframe": ("moved", reframe),
    "frozen": ("frozen", None),
}


def clip(frames: list[np.ndarray], corruption: str) -> Iterator[np.ndarray]:
    source = cycle(frames)
    clean_n, fault_n = int(CLEAN_S / STEP_S), int(FAULT_S / STEP_S)
    for _ in range(clean_n):
        yield next(source)
    _, corrupt = CORRUPTIONS[corruption]
    held = next(source)
    for _ in range(fault_n):
        if corruption == "frozen":
            yield held
        else:
            image = next(source)
            yield corrupt(image) if corrupt else image


def run_clip(frames: list[np.ndarray], corruption: str) -> tuple[set[str], list]:
    detector = CameraFaultDetector("cam-t", IntegrityConfig())
    started, findings = set(), []
    for k, image in enumerate(clip(frames, corruption)):
        for finding in detector.observe(k * STEP_S, to_analysis_grey(image)):
            findings.append(finding)
            if finding.phase == "start":
                started.add(finding.subtype)
    return started, findings


@pytest.fixture(scope="module")
def footage() -> dict[str, list[np.ndarray]]:
    return {
        "corridor": video_frames("one-by-one-person-detection.mp4", every=12, count=100),
        "parking_lot": video_frames("car-detection.mp4", every=6, count=100),
        "street_still": noisy_still(40),
    }


def test_fault_detector_precision_and_recall_on_labelled_corruptions(footage, capsys) -> None:
    subtypes = ("frozen", "occluded", "moved", "defocused")
    tp = dict.fromkeys(subtypes, 0)
    fp = dict.fromkeys(subtypes, 0)
    fn = dict.fromkeys(subtypes, 0)
    rows = []
    for scene, frames in footage.items():
        for corruption, (expected, _) in CORRUPTIONS.items():
            started, _ = run_clip(frames, corruption)
            started.discard("offline")
            rows.append(f"{scene:12} {corruption:10} expected={expected or '-':9} detected={sorted(started)}")
            for s in subtypes:
                tp[s] += s == expected and s in started
                fn[s] += s == expected and s not in started
                fp[s] += s != expected and s in started
    lines = ["camera fault detector, real footage + synthetic corruptions:", *rows]
    for s in subtypes:
        precision = tp[s] / (tp[s] + fp[s]) if tp[s] + fp[s] else 1.0
        recall = tp[s] / (tp[s] + fn[s]) if tp[s] + fn[s] else 1.0
        lines.append(f"{s:10} precision {precision:.2f} recall {recall:.2f} (tp {tp[s]}, fp {fp[s]}, fn {fn[s]})")
    total_tp, total_fp, total_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    precision, recall = total_tp / (total_tp + total_fp), total_tp / (total_tp + total_fn)
    lines.append(f"overall    precision {precision:.2f} recall {recall:.2f}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert precision >= 0.9 and recall >= 0.9, "\n".join(lines)


def test_fault_starts_after_hold_ends_after_clear_with_stable_key(footage) -> None:
    frames = footage["corridor"]
    detector = CameraFaultDetector("cam-7", IntegrityConfig(occluded_s=4, clear_s=3))
    timeline = [(k * STEP_S, frames[k % len(frames)]) for k in range(20)]  # 10 s clean
    timeline += [(10 + k * STEP_S, cloth(frames[k])) for k in range(6)]  # 3 s cover: shorter than the hold
    timeline += [(13 + k * STEP_S, frames[k]) for k in range(6)]
    timeline += [(16 + k * STEP_S, cloth(frames[k])) for k in range(20)]  # 10 s cover
    timeline += [(26 + k * STEP_S, frames[k]) for k in range(10)]  # uncovered for 5 s
    findings = [f for t, im in timeline for f in detector.observe(t, to_analysis_grey(im))]
    assert [(f.subtype, f.phase) for f in findings] == [("occluded", "start"), ("occluded", "end")]
    start, end = findings
    assert start.incident_key == end.incident_key == "cam-7/fault/occluded"
    assert start.kind == "camera_fault" and start.measurements["blank_fraction"] >= 0.75
    assert start.measurements["duration_s"] == 4.0 and end.measurements["duration_s"] == pytest.approx(13.0)
    assert start.algorithm is not None and start.algorithm.name == "camera_integrity"
    assert detector.active() == {}


def test_offline_is_driven_by_ticks_without_frames(footage) -> None:
    detector = CameraFaultDetector("cam-8", IntegrityConfig(offline_s=20, clear_s=2))
    grey = to_analysis_grey(footage["corridor"][0])
    assert detector.observe(0.0, grey) == []
    assert [f for t in range(1, 20) for f in detector.tick(float(t))] == []
    (start,) = detector.tick(21.0)
    assert (start.subtype, start.phase, start.measurements["offline_s"]) == ("offline", "start", 21.0)
    assert detector.observe(22.0, grey) == [] and "offline" in detector.active()
    (end,) = detector.observe(24.0, grey)
    assert (end.subtype, end.phase) == ("offline", "end")


def test_still_image_sources_are_not_reported_frozen(footage) -> None:
    grey = to_analysis_grey(footage["street_still"][0])
    detector = CameraFaultDetector("cam-9", IntegrityConfig(frozen_s=2), check_frozen=False)
    assert [f for k in range(40) for f in detector.observe(k * STEP_S, grey)] == []
    forced = CameraFaultDetector("cam-9", IntegrityConfig(frozen_s=2, check_frozen=True), check_frozen=False)
    assert any(f.subtype == "frozen" for k in range(40) for f in forced.observe(k * STEP_S, grey))
