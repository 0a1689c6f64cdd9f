"""InferenceBatcher: concurrent cameras share batched runs and each gets exactly its own frame's detections.

The real YOLOX-Nano shows correctness; a gated stand-in detector makes the timing-dependent cases (close with
callers waiting, a failing batch, a model swap with frames queued) deterministic.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from edge_testkit import MODELS_DIR, shared_file

from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.detectors.base import Prepared
from edge_agent.detectors.batcher import BatcherClosed, BatchInferenceError, InferenceBatcher, batch_capable
from edge_agent.detectors.preprocess import Letterbox
from edge_agent.models.manifest import ModelStore, load_manifest

FRAMES = ["dog.jpg", "mmdet_demo.jpg", "coco_val2017_000000001000.jpg", "coco_val2017_000000001268.jpg"]
TIMEOUT_S = 60.0


def run_in_threads(fns: list) -> tuple[list, list]:
    """Call each fn on its own thread; (results, errors) in the same order."""
    results: list = [None] * len(fns)
    errors: list = [None] * len(fns)

    def call(i: int) -> None:
        try:
            results[i] = fns[i]()
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a caller hung"
    return results, errors


@pytest.fixture(scope="module")
def yolox(tmp_path_factory: pytest.TempPathFactory):
    shared_file("models", "yolox_nano.onnx")
    store = ModelStore(load_manifest(), MODELS_DIR, tmp_path_factory.mktemp("cache") / "hashes.json")
    detector = create_detector(*store.resolve("yolox_nano"), DetectorOptions())
    batched = batch_capable(detector)
    assert batched is not None
    return detector, batched


def test_concurrent_cameras_get_exactly_the_detections_of_their_own_frame(yolox) -> None:
    detector, batched = yolox
    frames = [cv2.imread(str(shared_file("media", name))) for name in FRAMES]
    expected = [detector.detect(frame) for frame in frames]  # plain, batch 1, the file's own graph
    # A generous wait, so that the four cameras meet in one batch whenever they are all active.
    batcher = InferenceBatcher(batched, max_batch=4, max_wait_ms=200)
    rounds, barrier = 3, threading.Barrier(len(frames))

    def camera(i: int):
        got, inference_ms = [], []
        for _ in range(rounds):
            barrier.wait(TIMEOUT_S)
            got.append(batcher.detect(frames[i]))
            inference_ms.append(batcher.last_inference_ms)  # this thread's own frame, not another camera's
        return got, inference_ms

    try:
        results, errors = run_in_threads([lambda i=i: camera(i) for i in range(len(frames))])
    finally:
        batcher.close()
    assert errors == [None] * len(frames)
    for i, (got, inference_ms) in enumerate(results):
        assert len(expected[i]) > 0 and all(ms > 0 for ms in inference_ms)
        for detections in got:
            assert np.array_equal(detections.xyxy, expected[i].xyxy)
            assert np.array_equal(detections.confidence, expected[i].confidence)
            assert np.array_equal(detections.class_id, expected[i].class_id)
    sizes = batcher.batch_sizes()
    assert sum(size * runs for size, runs in sizes.items()) == rounds * len(frames)
    assert max(sizes) > 1, sizes  # frames of several cameras did share a run


def test_a_lone_camera_is_not_held_back_waiting_for_company(yolox) -> None:
    """Every active caller's frame is already there (just the one): the batch runs without the (huge) wait."""
    _, batched = yolox
    batcher = InferenceBatcher(batched, max_batch=8, max_wait_ms=600_000)
    image = cv2.imread(str(shared_file("media", "dog.jpg")))
    try:
        results, errors = run_in_threads([lambda: [batcher.detect(image) for _ in range(2)]])
    finally:
        batcher.close()
    assert errors == [None] and batcher.batch_sizes() == {1: 2}
    assert all("dog" in detections.names() for detections in results[0])


class GatedDetector:
    """Stands in for a batch-capable OnnxDetector: `run` holds until the gate opens, output = per-frame sums plus
    `offset` (so each caller can tell it got its own frame, from this model), and it may fail batches > 1."""

    def __init__(self, offset: float = 0.0, fail_batches: bool = False) -> None:
        self.spec = load_manifest().get("yolox_nano")
        self.offset = offset
        self.fail_batches = fail_batches
        self.gate = threading.Event()
        self.running = threading.Event()
        self.runs: list[int] = []
        self._count = threading.Lock()
        self.active = self.peak = 0  # runs under way now, and the most at once

    def prepare(self, frame: np.ndarray) -> Prepared:
        return Prepared(frame[None].astype(np.float32), Letterbox(1.0, 1.0, 0.0, 0.0), frame.shape[1], frame.shape[0])

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        with self._count:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.running.set()
            assert self.gate.wait(TIMEOUT_S)
            self.runs.append(len(blob))
            if self.fail_batches and len(blob) > 1:
                raise RuntimeError("boom")
            time.sleep(0.006 * len(blob))  # at least 6 ms of run time per frame
            return [blob.reshape(len(blob), -1).sum(axis=1, keepdims=True) + self.offset]
        finally:
            with self._count:
                self.active -= 1

    def finish(self, outputs: list[np.ndarray], prepared: Prepared) -> float:
        return float(outputs[0][0, 0])


def frame(value: int) -> np.ndarray:
    return np.full((2, 2, 3), value, dtype=np.uint8)  # sums to 12 * value


def wait_for(predicate) -> None:
    done = threading.Event()
    for _ in range(int(TIMEOUT_S * 100)):
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError("condition not reached")


def start_blocked_first_call(batcher: InferenceBatcher, detector: GatedDetector):
    """Camera A's frame is in a run held by the gate; returns the thread collecting A's result."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("a", batcher.detect(frame(1))))
    thread.start()
    assert detector.running.wait(TIMEOUT_S)
    return thread, box


def test_queued_frames_share_a_run_and_split_its_time() -> None:
    detector = GatedDetector()
    batcher = InferenceBatcher(detector, max_batch=4, max_wait_ms=50)
    a, box = start_blocked_first_call(batcher, detector)

    def camera(value: int):
        return batcher.detect(frame(value)), batcher.last_inference_ms

    def release_when_queued() -> None:
        wait_for(lambda: batcher.waiting() == 2)
        detector.gate.set()

    releaser = threading.Thread(target=release_when_queued)
    releaser.start()
    try:
        results, errors = run_in_threads([lambda: camera(2), lambda: camera(3)])
        a.join(TIMEOUT_S)
        releaser.join(TIMEOUT_S)
    finally:
        batcher.close()
    assert errors == [None, None] and box["a"] == 12.0
    assert [value for value, _ in results] == [24.0, 36.0]  # each camera gets its own frame's result
    shares = [ms for _, ms in results]
    assert shares[0] == shares[1] and shares[0] >= 6.0  # each half of the one (>= 12 ms) batch run
    assert detector.runs == [1, 2] and batcher.batch_sizes() == {1: 1, 2: 1}


def test_a_failed_batch_reaches_every_caller_in_it() -> None:
    detector = GatedDetector(fail_batches=True)
    batcher = InferenceBatcher(detector, max_batch=4, max_wait_ms=50)
    a, box = start_blocked_first_call(batcher, detector)
    releaser = threading.Thread(target=lambda: (wait_for(lambda: batcher.waiting() == 2), detector.gate.set()))
    releaser.start()
    try:
        _, errors = run_in_threads([lambda: batcher.detect(frame(2)), lambda: batcher.detect(frame(3))])
        a.join(TIMEOUT_S)
        releaser.join(TIMEOUT_S)
        assert batcher.detect(frame(4)) == 48.0  # the batcher itself goes on serving
    finally:
        batcher.close()
    assert box["a"] == 12.0
    for error in errors:
        assert isinstance(error, BatchInferenceError) and str(error.__cause__) == "boom"
    assert detector.runs == [1, 2, 1]


def test_close_fails_the_waiting_callers_and_later_calls() -> None:
    detector = GatedDetector()
    batcher = InferenceBatcher(detector, max_batch=1, max_wait_ms=0)
    a, box = start_blocked_first_call(batcher, detector)
    waiting_errors: list = []

    def waiting_camera(value: int) -> None:
        try:
            batcher.detect(frame(value))
        except BaseException as exc:
            waiting_errors.append(exc)

    cameras = [threading.Thread(target=waiting_camera, args=(v,)) for v in (2, 3)]
    for t in cameras:
        t.start()
    wait_for(lambda: batcher.waiting() == 2)
    closer = threading.Thread(target=batcher.close)
    closer.start()
    for t in cameras:
        t.join(TIMEOUT_S)
    assert len(waiting_errors) == 2 and all(isinstance(e, BatcherClosed) for e in waiting_errors)
    detector.gate.set()  # the run that was under way when close() came ends normally
    a.join(TIMEOUT_S)
    closer.join(TIMEOUT_S)
    assert box["a"] == 12.0 and not closer.is_alive()
    with pytest.raises(BatcherClosed):
        batcher.detect(frame(5))


def test_a_model_swap_takes_effect_between_frames() -> None:
    old, new = GatedDetector(offset=0.0), GatedDetector(offset=1000.0)
    new.gate.set()
    batcher = InferenceBatcher(old, max_batch=4, max_wait_ms=0)
    a, box = start_blocked_first_call(batcher, old)
    queued: dict = {}
    b = threading.Thread(target=lambda: queued.setdefault("b", batcher.detect(frame(2))))
    b.start()
    wait_for(lambda: batcher.waiting() == 1)
    batcher.replace(new, 4)
    try:
        c_result, errors = run_in_threads([lambda: (old.gate.set(), batcher.detect(frame(3)))[1]])
        a.join(TIMEOUT_S)
        b.join(TIMEOUT_S)
    finally:
        batcher.close()
    assert errors == [None]
    assert box["a"] == 12.0 and queued["b"] == 24.0  # queued before the swap: the old model ran it
    assert c_result == [1036.0] and batcher.spec is new.spec  # after the swap: the new one
    assert old.runs == [1, 1] and new.runs == [1]  # never one batch across two models


def test_two_workers_run_a_second_batch_while_the_first_is_running() -> None:
    """Camera A's frame is in a run that holds; camera B's frame starts on the second worker at once. The wait for
    B's company is long (10 min): it is skipped because the only other active camera's frame is already running."""
    detector = GatedDetector()
    batcher = InferenceBatcher(detector, max_batch=4, max_wait_ms=600_000, workers=2)
    a, box = start_blocked_first_call(batcher, detector)
    try:
        b = threading.Thread(target=lambda: box.setdefault("b", batcher.detect(frame(2))))
        b.start()
        wait_for(lambda: detector.peak == 2)  # both runs under way together
        detector.gate.set()
        a.join(TIMEOUT_S)
        b.join(TIMEOUT_S)
    finally:
        batcher.close()
    assert box == {"a": 12.0, "b": 24.0} and detector.runs == [1, 1]
    assert batcher.batch_sizes() == {1: 2}


def test_two_workers_give_the_same_detections_as_plain_detect(yolox) -> None:
    detector, batched = yolox
    frames = [cv2.imread(str(shared_file("media", name))) for name in ("dog.jpg", "mmdet_demo.jpg", "dog.jpg")]
    expected = [detector.detect(f) for f in frames]
    batcher = InferenceBatcher(batched, max_batch=2, max_wait_ms=5, workers=2)
    try:
        results, errors = run_in_threads([lambda f=f: [batcher.detect(f) for _ in range(4)] for f in frames])
    finally:
        batcher.close()
    assert errors == [None] * len(frames)
    for got, want in zip(results, expected, strict=True):
        for detections in got:
            assert np.array_equal(detections.xyxy, want.xyxy) and np.array_equal(detections.class_id, want.class_id)
    assert sum(size * runs for size, runs in batcher.batch_sizes().items()) == 4 * len(frames)


def test_many_cameras_on_three_workers_each_get_their_own_frames() -> None:
    """Workers compete for the queue (one may take the frame another was forming a batch around): every frame is
    run exactly once and its result goes back to its own camera."""
    detector = GatedDetector()
    detector.gate.set()
    batcher = InferenceBatcher(detector, max_batch=4, max_wait_ms=1, workers=3)
    cameras, frames_each = 8, 25
    try:
        results, errors = run_in_threads(
            [lambda c=c: [batcher.detect(frame(c)) for _ in range(frames_each)] for c in range(1, cameras + 1)]
        )
    finally:
        batcher.close()
    assert errors == [None] * cameras
    assert results == [[12.0 * c] * frames_each for c in range(1, cameras + 1)]
    assert sum(detector.runs) == cameras * frames_each and detector.peak >= 2
