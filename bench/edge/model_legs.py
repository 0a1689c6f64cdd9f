"""Bare-model legs: the project's detector on pre-decoded frames (one frame a run, or N frames as one batch), and the
raw ONNX Runtime session (the floor)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge_agent.detectors.base import OnnxDetector


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
    return detector.prepare(frame).blob


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


def run_detector_batch(
    detector: OnnxDetector, frames: list[np.ndarray], batch: int, seconds: float, workers: int = 1
) -> tuple[int, float]:
    """`batch` frames a step: each prepared, one session run for all, each decoded; (frames, elapsed seconds).

    `detector` must take batches of `batch` (`edge_agent.detectors.batcher.batch_model`). No batcher and no cameras:
    the model's own throughput at that batch size, on `workers` threads stepping concurrently (as many as the
    agent's inference threads), the ceiling for a pipeline whose cameras fill every batch.
    """

    def step(i: int) -> None:
        prepared = [detector.prepare(frames[(i * batch + k) % len(frames)]) for k in range(batch)]
        outputs = detector.run(np.concatenate([p.blob for p in prepared]))
        for k, p in enumerate(prepared):
            detector.finish([o[k : k + 1] for o in outputs], p)

    if workers == 1:
        steps, elapsed = timed_loop(step, seconds)
        return steps * batch, elapsed
    done: list[tuple[int, float]] = []

    def worker(w: int) -> None:
        done.append(timed_loop(lambda i: step(i * workers + w), seconds))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(done) != workers:
        raise RuntimeError("a detector_batch worker failed; see the traceback above")
    return sum(steps for steps, _ in done) * batch, max(elapsed for _, elapsed in done)
