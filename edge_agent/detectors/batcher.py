"""Batched inference across cameras: every camera thread calls `detect`, one thread runs the network on batches.

A camera thread letterboxes its frame and builds the blob itself (cv2 and numpy release the GIL, so cameras prepare
in parallel), queues it, and waits. An inference thread takes the first waiting frame plus whatever else is
already waiting (up to `max_batch`), waits at most `max_wait_ms` for the rest of the active cameras (those whose
frame is not already in a running batch), runs the session once, and hands each frame its slice of the outputs;
each camera thread then decodes and runs NMS on its own, in parallel again.

`workers` inference threads (default 2) share the one session: while one batch runs, the next one forms and starts
on the other core. On CPU, two runs with one intra-op thread each do more frames per second than one run with two
threads (measured on the 2-core box: YOLOX-Nano batch 8, 73-77 against 61-68 frames/s), because a single run's
parallel sections leave cores idle between them.

Only models whose batch results equal their single-frame results are batched (`batch_capable`); the others run one
frame a run on the same threads, with the reason logged once.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from edge_agent.config import InferenceConfig
from edge_agent.detections import Detections
from edge_agent.detectors.base import Detector, OnnxDetector
from edge_agent.detectors.session import open_session
from edge_agent.models.manifest import ModelSpec

log = logging.getLogger(__name__)

# Batch outputs must equal single-frame outputs this closely. Measured on CPU: YOLOX identical, NanoDet within 2e-6;
# frames leaking into each other's results differ far more (YOLOv8n int8 forced to batch: 75 pixels).
CHECK_RTOL = 1e-4
CHECK_ATOL = 1e-4
# A caller that submitted a frame within this window counts as an active camera: the batch waits for it.
ACTIVE_WINDOW_S = 2.0


class BatcherClosed(RuntimeError):
    """The batcher was closed before this frame's inference ran."""


class BatchInferenceError(RuntimeError):
    """The batch run that held this frame failed; the cause is chained."""


def serving_detector(detector: OnnxDetector, inference: InferenceConfig, cameras: int) -> Detector:
    """What the agent runs `cameras` cameras on: an InferenceBatcher when the config allows a batch > 1 (batches if
    the model can batch, otherwise single frames on its concurrent inference threads), else `detector` itself, one
    frame at a time under the pipelines' shared lock."""
    max_batch = inference.batch_for(cameras)
    if max_batch <= 1:
        return detector
    workers = inference.workers_for(max_batch)
    model, max_batch = batch_model(detector, max_batch, workers)
    if max_batch <= 1 and workers <= 1:
        return detector
    return InferenceBatcher(model, max_batch, inference.max_wait_ms if max_batch > 1 else 0.0, workers=workers)


def worker_threads(detector: OnnxDetector, workers: int) -> int:
    """Intra-op threads of the batched session: the configured number if one is set, else the cores shared out
    among the inference threads (ONNX Runtime's own default would give each of them every core)."""
    configured = detector.options.intra_op_threads
    return configured if configured else max(1, _usable_cores() // workers)


def _usable_cores() -> int:
    """Cores this process may run on (a container's cpuset, not the host's count where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def batch_model(detector: OnnxDetector, max_batch: int, workers: int = 1) -> tuple[OnnxDetector, int]:
    """(the batch-capable copy of `detector` for `workers` inference threads, warmed up at `max_batch`), or, if it
    cannot batch, (a copy for `workers` threads running single frames, 1)."""
    threads = worker_threads(detector, workers)
    batched = batch_capable(detector, threads)
    if batched is None:
        return _with_threads(detector, threads), 1
    # The first run at a new batch size allocates (and with TensorRT builds) for that shape: pay it now.
    blob = batched.prepare(_check_frames(batched.input_wh)[0]).blob
    batched.run(np.concatenate([blob] * max_batch))
    return batched, max_batch


def _with_threads(detector: OnnxDetector, intra_op_threads: int) -> OnnxDetector:
    """`detector`, or a copy on its own session with `intra_op_threads` (for concurrent single-frame runs: two runs
    on one thread each beat one run on two threads; YOLOv8n int8 on the 2-core box: 12-13 against 7-8 frames/s)."""
    options = detector.options
    if intra_op_threads == options.intra_op_threads:
        return detector
    session = open_session(
        detector.path,
        options.providers,
        intra_op_threads,
        label=f"{detector.spec.name} (shared)",
        tensorrt=detector.tensorrt_settings(),
    )
    concurrent = copy.copy(detector)  # decoder tables are shared read-only; only the session differs
    concurrent.session = session
    return concurrent


_capable: weakref.WeakKeyDictionary[OnnxDetector, dict[int | None, OnnxDetector | None]] = weakref.WeakKeyDictionary()
_capable_lock = threading.Lock()


def batch_capable(detector: OnnxDetector, intra_op_threads: int | None = None) -> OnnxDetector | None:
    """A copy of `detector` whose session takes batches of any size, or None (reason logged) if the model cannot.

    `intra_op_threads`: for the copy's session (None: the detector's own setting). Checked once per detector and
    thread count: a batch of two different frames must give each frame the outputs a single run gives it. Repeated
    calls with the same arguments return the same copy.
    """
    with _capable_lock:
        copies = _capable.setdefault(detector, {})
        if intra_op_threads not in copies:
            copies[intra_op_threads] = _make_batch_capable(detector, intra_op_threads)
        return copies[intra_op_threads]


def _make_batch_capable(detector: OnnxDetector, intra_op_threads: int | None) -> OnnxDetector | None:
    name = detector.spec.name
    try:
        from edge_agent.detectors.batch_graph import NotBatchable, batch_graph
    except ImportError as exc:  # onnx comes with the `edge` extra; without it the agent still runs, unbatched
        log.warning("model %s stays at batch 1: batching needs the onnx package (%s)", name, exc)
        return None
    try:
        graph = batch_graph(detector.path, detector.input_name)
        options = detector.options
        threads = options.intra_op_threads if intra_op_threads is None else intra_op_threads
        model = detector.path if graph.model is None else graph.model  # None: the file's batch is already symbolic
        if model is detector.path and threads == options.intra_op_threads:
            session = detector.session
        else:
            session = open_session(
                model, options.providers, threads, label=f"{name} (batched)", tensorrt=detector.tensorrt_settings()
            )
        problem = compare_batched(detector.session, session, detector.input_name, _check_blobs(detector))
    except NotBatchable as exc:
        problem = str(exc)
    except Exception as exc:  # whatever goes wrong, the agent keeps its working batch-1 detector
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        log.warning("model %s stays at batch 1: %s", name, problem)
        return None
    log.info("model %s runs batches across cameras (%d shape constants rewritten)", name, graph.rewritten)
    batched = copy.copy(detector)  # decoder tables are shared read-only; only the session differs
    batched.session = session
    return batched


def compare_batched(
    single: ort.InferenceSession, batched: ort.InferenceSession, input_name: str, blobs: list[np.ndarray]
) -> str | None:
    """None if running `blobs` as one batch on `batched` gives each blob the outputs `single` gives it alone;
    otherwise what differs. `blobs` should differ in content and statistics, so that coupling shows."""
    quiet = ort.RunOptions()
    quiet.log_severity_level = 4  # a graph that cannot batch fails here by design; its ORT error line is noise
    alone = [single.run(None, {input_name: b}, quiet) for b in blobs]
    try:
        together = batched.run(None, {input_name: np.concatenate(blobs)}, quiet)
    except Exception as exc:
        return f"a batch of {len(blobs)} does not run: {str(exc).splitlines()[0][:300]}"
    for k, out in enumerate(together):
        if out.shape[0] != len(blobs):
            return f"output {k} has {out.shape[0]} rows for a batch of {len(blobs)}"
        for i, ref in enumerate(alone):
            part = out[i : i + 1]
            if part.shape != ref[k].shape or not np.allclose(part, ref[k], rtol=CHECK_RTOL, atol=CHECK_ATOL):
                diff = float(np.abs(part - ref[k]).max()) if part.shape == ref[k].shape else float("nan")
                return f"a batch changes output {k} of frame {i} (max abs difference {diff:.3g})"
    return None


def _check_frames(input_wh: tuple[int, int]) -> list[np.ndarray]:
    """Two frames at the network's input size with different content and value ranges: seeded full-range noise, and
    a dim gradient with one bright square (so per-batch statistics would differ between them)."""
    w, h = input_wh
    noise = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ramp = (
        np.linspace(0, 60, w, dtype=np.float32)[None, :, None] + np.linspace(0, 20, h, dtype=np.float32)[:, None, None]
    )
    dim = np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8)
    dim[h // 4 : h // 2, w // 4 : w // 2] = (40, 200, 250)
    return [noise, dim]


def _check_blobs(detector: OnnxDetector) -> list[np.ndarray]:
    return [detector.prepare(frame).blob for frame in _check_frames(detector.input_wh)]


@dataclass(eq=False, slots=True)
class _Request:
    detector: OnnxDetector
    max_batch: int
    blob: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    outputs: list[np.ndarray] | None = None
    inference_ms: float = 0.0
    error: BaseException | None = None


class InferenceBatcher(Detector):
    """A thread-safe Detector that runs the frames of concurrent callers as batches on one inference thread."""

    thread_safe = True

    def __init__(self, detector: OnnxDetector, max_batch: int, max_wait_ms: float = 2.0, *, workers: int = 1) -> None:
        """`detector` must be batch-capable (`batch_capable`) when `max_batch` > 1; `workers` inference threads run
        batches concurrently on its session."""
        if max_batch < 1 or max_wait_ms < 0 or workers < 1:
            raise ValueError(
                f"max_batch and workers must be >= 1 and max_wait_ms >= 0, got {max_batch}, {workers} and {max_wait_ms}"
            )
        self._model = (detector, max_batch)
        self.max_wait_s = max_wait_ms / 1000
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._closed = False
        self._callers: dict[int, float] = {}  # thread id -> last submission (monotonic)
        self._local = threading.local()
        self._sizes: Counter[int] = Counter()
        self._in_flight = 0  # frames in batches being run now: their cameras cannot send another frame yet
        self._threads = [
            threading.Thread(target=self._serve, name=f"inference-batcher-{n}", daemon=True) for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def spec(self) -> ModelSpec:
        return self._model[0].spec

    @property
    def detector(self) -> OnnxDetector:
        return self._model[0]

    @property
    def last_inference_ms(self) -> float:
        """For the calling thread's last frame: its share of the batch run, batch time / batch size. Comparable to a
        batch-1 inference time, and summed over frames it is the time the model was busy."""
        return getattr(self._local, "inference_ms", 0.0)

    def batch_sizes(self) -> dict[int, int]:
        """Histogram of the batches run so far: batch size -> number of runs."""
        with self._cond:
            return dict(self._sizes)

    def waiting(self) -> int:
        """Frames queued for inference now (not counting a batch being run)."""
        with self._cond:
            return len(self._queue)

    def replace(self, detector: OnnxDetector, max_batch: int) -> None:
        """Serve new frames with `detector` (a model update); frames already queued still run on the old one, so
        every frame is prepared, run and decoded by one model."""
        with self._cond:
            self._model = (detector, max_batch)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        detector, max_batch = self._model
        prepared = detector.prepare(frame_bgr)
        request = _Request(detector, max_batch, prepared.blob)
        with self._cond:
            if self._closed:
                raise BatcherClosed("the inference batcher is closed")
            self._queue.append(request)
            self._callers[threading.get_ident()] = time.monotonic()
            self._cond.notify()
        request.done.wait()
        if request.error is not None:
            if isinstance(request.error, BatcherClosed):
                raise BatcherClosed("the inference batcher was closed while this frame waited")
            raise BatchInferenceError(f"batched inference failed: {request.error}") from request.error
        self._local.inference_ms = request.inference_ms
        assert request.outputs is not None
        return detector.finish(request.outputs, prepared)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the inference threads; frames still waiting fail with BatcherClosed (batches already running end
        normally), and later `detect` calls raise it at once."""
        self._shut()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _shut(self) -> None:
        with self._cond:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for request in pending:
            request.error = BatcherClosed()
            request.done.set()

    # -- the inference threads -----------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                self._run(batch)
        finally:  # however the thread ends, no caller is left waiting for it
            self._shut()

    def _next_batch(self) -> list[_Request] | None:
        with self._cond:
            while True:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return None
                first = self._queue[0]
                deadline = time.monotonic() + self.max_wait_s
                # No waiting once every active camera's frame is here or in a running batch: nobody else is coming.
                while first in self._queue and self._ready(first) < self._wanted(first):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._closed:
                        break
                    self._cond.wait(remaining)
                if self._closed:
                    return None
                if first not in self._queue:  # another worker took it into its batch meanwhile: start over
                    continue
                batch = [r for r in self._queue if r.detector is first.detector][: first.max_batch]
                taken = set(map(id, batch))
                self._queue = deque(r for r in self._queue if id(r) not in taken)
                self._in_flight += len(batch)
                return batch

    def _wanted(self, first: _Request) -> int:
        """Frames worth waiting for: one per active camera whose frame is not already in a running batch."""
        return min(first.max_batch, max(1, self._active_callers() - self._in_flight))

    def _ready(self, first: _Request) -> int:
        """Queued frames that can share a batch with `first` (same model)."""
        return sum(1 for r in self._queue if r.detector is first.detector)

    def _active_callers(self) -> int:
        horizon = time.monotonic() - ACTIVE_WINDOW_S
        for ident in [i for i, seen in self._callers.items() if seen < horizon]:
            del self._callers[ident]
        return max(1, len(self._callers))

    def _run(self, batch: list[_Request]) -> None:
        detector = batch[0].detector
        try:
            blob = batch[0].blob if len(batch) == 1 else np.concatenate([r.blob for r in batch])
            started = time.perf_counter()  # timed here: `detector.last_inference_ms` is shared by the workers
            outputs = detector.run(blob)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if any(o.shape[0] != len(batch) for o in outputs):
                raise ValueError(f"outputs {[o.shape for o in outputs]} do not have one row per frame of {len(batch)}")
            share = elapsed_ms / len(batch)
            for i, request in enumerate(batch):
                request.outputs = [o[i : i + 1] for o in outputs]
                request.inference_ms = share
            with self._cond:
                self._sizes[len(batch)] += 1
        except Exception as exc:
            log.error("batched inference of %d frame(s) failed: %s", len(batch), exc)
            for request in batch:
                request.error = exc
        finally:
            with self._cond:
                self._in_flight -= len(batch)
            for request in batch:
                if request.outputs is None and request.error is None:  # the thread itself is being torn down
                    request.error = BatcherClosed("the inference thread stopped")
                request.done.set()
