"""The whole edge pipeline for N cameras, built from the agent's own classes, run for a fixed time window.

Per camera: PrefetchFeed (decode) -> PipelineWorker -> CameraPipeline (detect on the shared detector: through the
inference batcher when the agent would batch these cameras, else under the shared inference lock; ByteTrack,
parking analytic on a zone, camera-integrity check) -> EventRecorder (its evidence thread: JPEG with YuNet face
blur, fsynced, then the SQLite outbox) -> EventSender -> AckingLink. This is how `EdgeAgent._start` wires them; only
the reader (real-time pacing) and the MQTT/HTTP transport are replaced.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.edge.fake_hub import AckingLink, ReadingUploader
from bench.edge.feed import PrefetchFeed
from edge_agent.comms.outbox import Outbox
from edge_agent.comms.sender import EventSender
from edge_agent.config import CameraConfig, EvidenceConfig, InferenceConfig
from edge_agent.detectors.base import OnnxDetector
from edge_agent.detectors.batcher import InferenceBatcher, serving_detector
from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.health import LatencyWindow
from edge_agent.integrity.camera_faults import CameraFaultDetector
from edge_agent.integrity.config import IntegrityConfig
from edge_agent.metrics import EdgeMetrics
from edge_agent.pipeline import CameraPipeline, PipelineWorker
from edge_agent.recorder import EventRecorder
from edge_agent.rules import CameraRules
from edge_agent.tracking import TrackIdAllocator

DEVICE_ID = "edge-bench-01"


def bench_rules(dwell_s: float, update_every_s: float) -> CameraRules:
    """A no-parking zone over the road half of the frame; a short dwell so that events (and evidence) fire."""
    return CameraRules.model_validate(
        {
            "version": 1,
            "zones": [{"id": "road", "polygon": [[0.0, 0.45], [1.0, 0.45], [1.0, 1.0], [0.0, 1.0]]}],
            "analytics": [
                {
                    "type": "parking",
                    "id": "parking.bench",
                    "zones": ["road"],
                    "classes": ["car", "truck", "bus", "motorcycle"],
                    "min_confidence": 0.35,
                    "dwell_s": dwell_s,
                    "update_every_s": update_every_s,
                    "leave_after_s": 1.0,
                }
            ],
        }
    )


@dataclass(frozen=True, slots=True)
class PipelineResult:
    cameras: int
    frames: int
    seconds: float
    events: int
    evidence_uploads: int
    frames_decoded: int
    batch_sizes: dict[int, int] | None = None  # batches run inside the window, by size; None: not batched

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class _FrameCounter:
    def __init__(self, metrics: EdgeMetrics) -> None:
        self.metrics = metrics
        self.count = 0
        self._lock = threading.Lock()

    def on_frame(self, camera_id: str, inference_ms: float | None) -> None:
        self.metrics.on_frame(camera_id, inference_ms)  # what the agent's worker callback does
        with self._lock:
            self.count += 1


def run_pipeline(
    detector: OnnxDetector,
    blurrer: FaceBlurrer,
    source: str,
    cameras: int,
    seconds: float,
    *,
    dwell_s: float = 2.0,
    update_every_s: float = 30.0,
    warmup_frames: int = 2,
    work_dir: Path | None = None,
    inline: bool = False,
) -> PipelineResult:
    """Run `cameras` pipelines on `source` for `seconds` after a warm-up; frames counted only inside the window.

    `detector` is served to the cameras the way the agent serves it (`serving_detector` with the default `inference`
    config): batched across cameras when there are several and the model allows it.

    `inline`: the agent as it was before the integrity check got its time budget and evidence its own thread
    (integrity on every frame, evidence rendered on the camera thread), for a same-run before/after comparison.
    """
    with tempfile.TemporaryDirectory(prefix="edge-bench-", dir=work_dir) as tmp:
        data = Path(tmp)
        outbox = Outbox(data / "outbox.sqlite")
        link, uploader = AckingLink(), ReadingUploader()
        sender = EventSender(DEVICE_ID, outbox, link, uploader)
        link.on_ack = sender.on_ack
        metrics = EdgeMetrics()
        recorder = EventRecorder(
            outbox,
            data / "evidence",
            EvidenceConfig(),
            blurrer,
            on_recorded=sender.wake,
            metrics=metrics,
            background=not inline,
        )
        # 60 checks a second is more than any camera here delivers: every frame is checked, as before the budget.
        integrity_config = IntegrityConfig(max_checks_per_s=60.0) if inline else IntegrityConfig()
        counter = _FrameCounter(metrics)
        rules = bench_rules(dwell_s, update_every_s)
        lock, latency = threading.Lock(), LatencyWindow()
        served = serving_detector(detector, InferenceConfig(), cameras)
        feeds, workers = [], []
        try:
            link.start()
            sender.start()
            for n in range(cameras):
                camera_id = f"cam-{n + 1:02d}"
                camera = CameraConfig(camera_id=camera_id, source=source, fps=60, rules=Path("bench-rules.yaml"))
                feed = PrefetchFeed(camera_id, source)
                integrity = CameraFaultDetector(camera_id, integrity_config, check_frozen=False)
                pipeline = CameraPipeline(
                    camera,
                    rules,
                    served,
                    recorder,
                    latency,
                    lock,
                    track_ids=TrackIdAllocator(outbox, camera_id),
                    integrity=integrity,
                )
                feeds.append(feed)
                workers.append(PipelineWorker(pipeline, feed.get, on_frame=counter.on_frame))
            for feed in feeds:
                feed.start()
            for worker in workers:
                worker.start()
            _wait_for(lambda: counter.count >= warmup_frames * cameras, workers, timeout_s=120.0)
            sizes0 = served.batch_sizes() if isinstance(served, InferenceBatcher) else None
            frames0, events0, t0 = counter.count, recorder.recorded, time.perf_counter()
            time.sleep(seconds)
            # At least one frame per window (as the bare-model legs make at least one call): a window shorter than
            # one frame on a slow box would otherwise read as 0 frames/s.
            _wait_for(lambda: counter.count > frames0, workers, timeout_s=120.0)
            frames1, events1, t1 = counter.count, recorder.recorded, time.perf_counter()
            sizes1 = served.batch_sizes() if isinstance(served, InferenceBatcher) else None
        finally:
            for worker in workers:
                worker.stop()
            for feed in feeds:
                feed.stop()
            if isinstance(served, InferenceBatcher):
                served.close()
            recorder.close()  # what the agent's stop does: queued events reach the outbox
            sender.stop()
            link.stop()
            outbox.close()
        errors = sum(w.errors for w in workers)
        if errors:
            raise RuntimeError(f"{errors} frame(s) failed in the pipeline; see the log above")
        return PipelineResult(
            cameras=cameras,
            frames=frames1 - frames0,
            seconds=t1 - t0,
            events=events1 - events0,
            evidence_uploads=uploader.uploads,
            frames_decoded=sum(f.decoded for f in feeds),
            batch_sizes=_window(sizes0, sizes1),
        )


def _window(before: dict[int, int] | None, after: dict[int, int] | None) -> dict[int, int] | None:
    """Batch-size histogram of the measuring window, from snapshots at its start and end."""
    if before is None or after is None:
        return None
    return {size: runs - before.get(size, 0) for size, runs in sorted(after.items()) if runs > before.get(size, 0)}


def _wait_for(done, workers: list[PipelineWorker], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if any(w.errors for w in workers):
            raise RuntimeError("the pipeline failed during warm-up; see the log above")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pipeline analysed no frames within {timeout_s:.0f} s")
        time.sleep(0.01)
