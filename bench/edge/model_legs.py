"""Bare-model legs: the project's detector on pre-decoded frames, and the raw ONNX Runtime session (the floor)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from edge_agent.detectors.base import OnnxDetector
from edge_agent.detectors.preprocess import letterbox, to_blob


def decode_frames(source: Path, limit: int) -> list[np.ndarray]:
    """Up to `limit` decoded BGR frames of a video (or the one picture), so the detector leg pays no decoding."""
    image = cv2.imread(str(source), cv2.IMREAD_COLOR) if source.suffix.lower() in {".jpg", ".jpeg", ".png"} else None
    if image is not None:
        return [image]
    cap = cv2.VideoCapture(str(source))
    frames = []
    try:
        while len(frames) < limit:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise RuntimeError(f"{source}: no frame could be decoded")
    return frames


def make_blob(detector: OnnxDetector, frame: np.ndarray) -> np.ndarray:
    spec_in = detector.spec.input
    canvas, _ = letterbox(frame, detector.input_wh, spec_in.letterbox, spec_in.pad_value)
    return to_blob(canvas, spec_in.channel_order, spec_in.mean, spec_in.std)


def timed_loop(step, seconds: float) -> tuple[int, float]:
    """Call `step(i)` until `seconds` have passed; (calls, elapsed seconds). At least one call."""
    started = time.perf_counter()
    n = 0
    while True:
        step(n)
        n += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return n, elapsed


def run_raw_session(detector: OnnxDetector, blob: np.ndarray, seconds: float) -> tuple[int, float]:
    feed = {detector.input_name: blob}
    return timed_loop(lambda _i: detector.session.run(None, feed), seconds)


def run_detector(detector: OnnxDetector, frames: list[np.ndarray], seconds: float) -> tuple[int, float]:
    return timed_loop(lambda i: detector.detect(frames[i % len(frames)]), seconds)
