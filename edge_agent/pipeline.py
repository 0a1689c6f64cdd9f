"""Per-camera analysis: newest frame -> detect -> track -> zone analytics -> recorded events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cityops.contract.messages import new_event_id
from edge_agent.analytics.parking import ParkingAnalytic
from edge_agent.capture.sources import Frame
from edge_agent.config import CameraConfig
from edge_agent.detectors.base import Detector
from edge_agent.events import parking_event_payload
from edge_agent.health import LatencyWindow
from edge_agent.recorder import EventRecorder, EvidenceRequest
from edge_agent.rules import CameraRules
from edge_agent.tracking import IouTracker
from edge_agent.zones import Zone

log = logging.getLogger(__name__)


class CameraPipeline:
    def __init__(
        self,
        camera: CameraConfig,
        rules: CameraRules,
        detector: Detector,
        recorder: EventRecorder,
        latency: LatencyWindow,
        inference_lock: threading.Lock | None = None,
    ) -> None:
        self.camera = camera
        self.rules = rules
        self.detector = detector
        self.recorder = recorder
        self.latency = latency
        # One inference at a time: on a small box parallel sessions only fight over the same cores.
        self.inference_lock = inference_lock or threading.Lock()
        self.zones = {z.id: Zone(z) for z in rules.zones}
        self.analytics = [
            (cfg, ParkingAnalytic(camera.camera_id, cfg, [self.zones[z] for z in cfg.zones])) for cfg in rules.analytics
        ]
        self.classes = frozenset(c for cfg in rules.analytics for c in cfg.classes)
        self.min_confidence = min(cfg.min_confidence for cfg in rules.analytics)
        longest_leave = max(cfg.leave_after_s for cfg in rules.analytics)
        # Tracks must outlive the analytics' patience, or a short miss would turn into a new id and a new stay.
        self.tracker = IouTracker(max_age_s=longest_leave + 1.0)
        self.frames = 0

    def process(self, frame: Frame) -> list[int]:
        """Analyse one frame; returns the seqs of the events it recorded."""
        with self.inference_lock:
            detections = self.detector.detect(frame.image)
        inference_ms = getattr(self.detector, "last_inference_ms", None)
        if inference_ms is not None:
            self.latency.add(inference_ms)
        wanted = detections.class_mask(self.classes) & (detections.confidence >= self.min_confidence)
        tracked = self.tracker.update(detections[wanted], frame.mono)
        self.frames += 1
        seqs = []
        for cfg, analytic in self.analytics:
            for decision in analytic.observe(frame.mono, tracked, frame.wh):
                event = parking_event_payload(
                    decision,
                    event_id=new_event_id(),
                    camera_id=self.camera.camera_id,
                    frame_ts=frame.ts,
                    frame_wh=frame.wh,
                    location=self.camera.location,
                    rule=cfg,
                    model=self.detector.spec,
                )
                request = EvidenceRequest(
                    frame=frame.image,
                    ts=frame.ts,
                    box_xyxy=decision.xyxy,
                    label=f"{decision.class_name} {decision.phase} {decision.dwell_s:.0f}s track {decision.track_id}",
                    zone_px=self.zones[decision.zone_id].pixel_polygon(frame.wh),
                )
                seq = self.recorder.record(event, request)
                if seq is not None:
                    seqs.append(seq)
        return seqs


class PipelineWorker:
    """Runs one camera's pipeline on its own thread, fed by that camera's reader."""

    def __init__(self, pipeline: CameraPipeline, next_frame: Callable[[float], Frame | None]) -> None:
        self.pipeline = pipeline
        self.next_frame = next_frame
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pipeline-{pipeline.camera.camera_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.next_frame(0.5)
            if frame is None:
                continue
            try:
                self.pipeline.process(frame)
            except Exception:  # one bad frame must not end the camera's analysis
                self.errors += 1
                log.exception("camera %s: frame %d failed", self.pipeline.camera.camera_id, frame.index)
                self._stop.wait(min(5.0, 0.1 * self.errors))
