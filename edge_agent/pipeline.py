"""Per-camera analysis: newest frame -> detect -> track -> zone analytics -> recorded events.

Alongside, the camera's integrity check (edge_agent/integrity/camera_faults.py) watches the pixels themselves and
records `camera_fault` events; without frames, `idle()` drives its offline fault. A pipeline is built for one set of
rules; a live configuration change builds a new pipeline (`CameraPipeline.successor`) that keeps the tracker and the
integrity state, and the worker swaps it in between two frames.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cityops.contract.messages import new_event_id
from edge_agent.analytics.build import (
    build_scene_analytic,
    confidence_floor,
    occlusion_hold_s,
    track_patience_s,
    zone_refs,
)
from edge_agent.analytics.finding import Box, Finding, FrameContext, SceneAnalytic, finding_payload
from edge_agent.analytics.parking import EndReason, ParkingAnalytic, ParkingEvent, ParkingRuleConfig
from edge_agent.analytics.thresholds import class_floors, rule_class_thresholds, scores_at_least
from edge_agent.capture.sources import Frame
from edge_agent.config import CameraConfig, ConfigError, RuntimeConfig
from edge_agent.detections import Detections
from edge_agent.detectors.base import Detector
from edge_agent.events import parking_event_payload
from edge_agent.health import LatencyWindow
from edge_agent.integrity.camera_faults import CameraFaultDetector, to_analysis_grey
from edge_agent.plates.recognizer import PlateModels
from edge_agent.recorder import EventRecorder, EvidenceRequest
from edge_agent.rules import CameraRules
from edge_agent.tracking import ByteTrackConfig, ByteTracker
from edge_agent.tracking.merge import merge_class_group
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
        *,
        track_ids: Callable[[], int] | None = None,
        integrity: CameraFaultDetector | None = None,
        tracker: ByteTracker | None = None,
        plates: PlateModels | None = None,
        score_threshold: float = RuntimeConfig().score_threshold,
    ) -> None:
        """`track_ids`: the camera's durable id allocator; `integrity`/`tracker`: state carried over from the
        pipeline this one replaces (see `successor`); `plates`: the agent's plate models, needed when a parking
        rule has `plates: {read|blur: true}` (a ConfigError otherwise, so such rules are refused up front);
        `score_threshold`: `runtime.score_threshold`, the least score a rule is handed unless it asks lower (the
        detector must then keep those lower scores: `analytics.thresholds.detection_floor`)."""
        self.camera = camera
        self.rules = rules
        self.detector = detector
        self.recorder = recorder
        self.latency = latency
        # One inference at a time: on a small box parallel sessions only fight over the same cores. A batching
        # detector (`thread_safe`) runs one inference at a time by itself and is called without this lock.
        self.inference_lock = inference_lock or threading.Lock()
        self.zones = {z.id: Zone(z) for z in rules.zones}
        self.analytics = [
            (cfg, ParkingAnalytic(camera.camera_id, cfg, [self.zones[z] for z in cfg.zones]))
            for cfg in rules.analytics
            if isinstance(cfg, ParkingRuleConfig)
        ]
        # Kitchen, waterlogging and road occupation speak the common Finding type (edge_agent/analytics/finding.py).
        self.scene_analytics = [
            build_scene_analytic(camera.camera_id, cfg, self.zones)
            for cfg in rules.analytics
            if not isinstance(cfg, ParkingRuleConfig)
        ]
        self.classes = frozenset(c for cfg in rules.analytics for c in cfg.classes)
        self.score_threshold = score_threshold
        # Each rule is handed only the scores it asked for (edge_agent/analytics/thresholds.py).
        self.class_floors = class_floors(rules.analytics, score_threshold)
        self._parking_views = [rule_class_thresholds(cfg, score_threshold) for cfg, _ in self.analytics]
        self._scene_views = [rule_class_thresholds(a.config, score_threshold) for a in self.scene_analytics]
        self.min_confidence = min(confidence_floor(cfg) for cfg in rules.analytics)
        longest_leave = max(track_patience_s(cfg) for cfg in rules.analytics)
        longest_hold = max(occlusion_hold_s(cfg) for cfg in rules.analytics)
        # One vehicle reported as car and truck is one object before it is two tracks (parking rules' classes).
        self.merge_groups = [
            (frozenset(cfg.classes), cfg.merge_iou) for cfg in rules.analytics if isinstance(cfg, ParkingRuleConfig)
        ]
        # Tracks must outlive the analytics' patience, or a short miss would turn into a new id and a new stay;
        # a parked (stationary) one is re-found under its id for as long as a stay is held through an occlusion.
        # The analytics' own confidence floor is what starts a track (lower scores may only continue one).
        defaults = ByteTrackConfig()
        track_config = ByteTrackConfig(
            high_score=self.min_confidence,
            max_lost_s=longest_leave + 1.0,
            stationary_lost_s=max(defaults.stationary_lost_s, longest_hold + 1.0),
        )
        if tracker is None:
            tracker = ByteTracker(track_config, id_source=track_ids)
        else:
            tracker.config = track_config
        self.tracker = tracker
        self.integrity = integrity
        self.plates = plates
        plate_options = rules.plate_options()
        if plate_options.wanted and plates is None:
            raise ConfigError(f"camera {camera.camera_id}: rules ask for licence plates; no plate models are loaded")
        self.plate_recognizer = plates.recognizer(plate_options) if plates is not None else None
        self.last_frame: Frame | None = None
        self.fault_events = 0
        self.frames = 0
        self.detected = 0  # confident detections of the rules' classes, over `frames`
        self._predecessor: CameraPipeline | None = None
        """The pipeline this one replaced, until its stays not carried over are ended (on the worker thread)."""
        self._carried: set[int] = set()
        """id() of the analytics this pipeline took over from its predecessor, stays and all."""

    def process(self, frame: Frame) -> list[int]:
        """Analyse one frame; returns the seqs of the events it recorded, when the recorder stores them at once
        (one that renders evidence in the background returns no seqs; its events reach the outbox in order)."""
        seqs = self._retire_predecessor()
        if not self.classes:  # e.g. a gauge-only waterlogging camera: pixels only, no detector time spent
            detections = Detections.empty(self.detector.spec.classes)
        elif getattr(self.detector, "thread_safe", False):  # it batches across cameras itself; a lock would stop that
            detections = self.detector.detect(frame.image)
        else:
            with self.inference_lock:
                detections = self.detector.detect(frame.image)
        inference_ms = getattr(self.detector, "last_inference_ms", None)
        if inference_ms is not None:
            self.latency.add(inference_ms)
        self.last_frame = frame
        # Low scores go to the tracker too: it uses them only to hold on to tracks a confident detection started.
        wanted = scores_at_least(detections, self.class_floors)  # the rules' classes, each at its least score
        for classes, min_iou in self.merge_groups:
            wanted = merge_class_group(wanted, classes, min_iou)
        tracked = self.tracker.update(wanted, frame.mono)
        self.frames += 1
        self.detected += int((wanted.confidence >= self.min_confidence).sum())  # a new model's health (ModelWatch)
        for (cfg, analytic), view in zip(self.analytics, self._parking_views, strict=True):
            decisions = analytic.observe(frame.mono, scores_at_least(tracked, view), frame.wh, frame.ts)
            if decisions:
                vehicles = tracked[tracked.class_mask(analytic.classes)].xyxy  # the rule's classes, not people
                seqs.extend(self._record_parking(cfg, decisions, frame, [tuple(map(float, b)) for b in vehicles]))
        if self.scene_analytics:
            seqs.extend(self._process_scene(frame, tracked))
        # The integrity thresholds are in seconds: a few checks a second (its `due`) find the same faults as
        # checking every frame, for a fraction of the CPU the inference needs.
        if self.integrity is not None and self.integrity.due(frame.mono):
            grey = to_analysis_grey(frame.image, self.integrity.config.analysis_width)
            findings = self.integrity.observe(frame.mono, grey)
            seqs.extend(self._record_faults(findings, frame))
        return seqs

    def _record_parking(
        self, cfg: ParkingRuleConfig, decisions: list[ParkingEvent], frame: Frame, vehicles: list[Box]
    ) -> list[int]:
        seqs = []
        for decision in decisions:
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
            evidence_frame = frame.image
            plates_done = self.plate_recognizer is not None and cfg.plates.wanted
            if plates_done:
                plate, evidence_frame = self.plate_recognizer.for_event(
                    cfg.plates,
                    phase=decision.phase,
                    image_bgr=frame.image,
                    vehicle_xyxy=decision.xyxy,
                    other_vehicles=vehicles,
                )
                if plate is not None:
                    event["plate"] = plate
            request = EvidenceRequest(
                frame=frame.image if evidence_frame is None else evidence_frame,
                ts=frame.ts,
                box_xyxy=decision.xyxy,
                label=f"{decision.class_name} {decision.phase} {decision.dwell_s:.0f}s track {decision.track_id}",
                zone_px=self.zones[decision.zone_id].pixel_polygon(frame.wh),
                plates_done=plates_done,
                vehicle_boxes=(tuple(map(float, decision.xyxy)), *vehicles),
            )
            # No picture rather than one with a readable plate when plate blurring failed.
            seq = self.recorder.record(event, request if evidence_frame is not None else None)
            if seq is not None:
                seqs.append(seq)
        return seqs

    def idle(self, now: float) -> list[int]:
        """No frame arrived in a poll: lets the integrity check notice an offline camera."""
        seqs = self._retire_predecessor()
        if self.integrity is None:
            return seqs
        return seqs + self._record_faults(self.integrity.tick(now), None)

    def close(self, reason: EndReason) -> list[int]:
        """End every open stay of this pipeline's analytics (and of the one it replaced), dated at their last
        sightings, with the last analysed frame as evidence. Call it on the thread that runs `process`, or once
        that thread has stopped."""
        return self._retire_predecessor() + self._close_analytics(reason, keep=set())

    def _retire_predecessor(self) -> list[int]:
        old, self._predecessor = self._predecessor, None
        if old is None:
            return []
        return old._retire_predecessor() + old._close_analytics("rules_changed", keep=self._carried)

    def _close_analytics(self, reason: EndReason, keep: set[int]) -> list[int]:
        frame = self.last_frame
        if frame is None:  # nothing analysed: nothing can be open
            return []
        seqs = []
        for cfg, analytic in self.analytics:
            if id(analytic) not in keep:
                seqs.extend(self._record_parking(cfg, analytic.close(frame.mono, reason), frame, []))
        for scene in self.scene_analytics:
            closer = getattr(scene, "close", None)  # analytics of stays; kitchen and waterlogging have none yet
            if id(scene) not in keep and closer is not None:
                seqs.extend(self._record_findings(scene, closer(frame.mono, reason), frame))
        return seqs

    def successor(self, rules: CameraRules) -> CameraPipeline:
        """A pipeline for new rules that keeps this one's tracker (ids, parked cars) and integrity state.

        An analytic whose rule and zones are unchanged is carried over with its open stays. The others' stays
        end with `rules_changed` before the new pipeline's first frame (or idle poll): the new rules may have other
        zones and thresholds, so those are re-detected (a parked car is still found, its dwell counted anew).
        """
        new = CameraPipeline(
            self.camera,
            rules,
            self.detector,
            self.recorder,
            self.latency,
            self.inference_lock,
            integrity=self.integrity,
            tracker=self.tracker,
            plates=self.plates,
            score_threshold=self.score_threshold,
        )
        new.last_frame = self.last_frame
        new.frames, new.detected = self.frames, self.detected  # the camera's counts go on across rule changes
        new._predecessor = self
        unchanged = [cfg for cfg, _ in self.analytics] + [a.config for a in self.scene_analytics]
        for n, (cfg, _) in enumerate(new.analytics):
            if cfg in unchanged and self._same_zones(rules, cfg.zones):
                carried = next(a for c, a in self.analytics if c == cfg)
                new.analytics[n] = (cfg, carried)
                new._carried.add(id(carried))
        for n, scene in enumerate(new.scene_analytics):
            old_scene = next((a for a in self.scene_analytics if a.config == scene.config), None)
            if old_scene is not None and self._same_zones(rules, zone_refs(scene.config)):
                new.scene_analytics[n] = old_scene
                new._carried.add(id(old_scene))
        return new

    def _same_zones(self, rules: CameraRules, zone_ids: list[str]) -> bool:
        old = {z.id: z for z in self.rules.zones}
        new = {z.id: z for z in rules.zones}
        return all(old.get(z) == new.get(z) for z in zone_ids)

    def _record_faults(self, findings: list, frame: Frame | None) -> list[int]:
        seqs = []
        location = self.camera.location
        spec = self.detector.spec
        for finding in findings:
            ts = frame.ts if frame is not None else datetime.now(UTC)
            event = finding_payload(
                finding,
                event_id=new_event_id(),
                camera_id=self.camera.camera_id,
                frame_ts=ts,
                frame_wh=frame.wh if frame is not None else (1, 1),
                location=(location.lon, location.lat) if location else None,
                rule_id="camera_integrity",
                rule_version=1,
                detector_model={"name": spec.name, "version": spec.version, "sha256": spec.sha256},
            )
            request = None
            if frame is not None:  # the picture shows what the camera sees (black, blurred, shifted, frozen)
                w, h = frame.wh
                request = EvidenceRequest(frame.image, ts, (0.0, 0.0, float(w), float(h)), finding.label, None)
            seq = self.recorder.record(event, request)
            self.fault_events += 1
            if seq is not None:
                seqs.append(seq)
        return seqs

    def _process_scene(self, frame: Frame, tracked: Detections) -> list[int]:
        seqs = []
        for analytic, view in zip(self.scene_analytics, self._scene_views, strict=True):
            context = FrameContext(frame.mono, frame.ts, frame.image, scores_at_least(tracked, view))
            seqs.extend(self._record_findings(analytic, analytic.observe(context), frame))
        return seqs

    def _record_findings(self, analytic: SceneAnalytic, findings: list[Finding], frame: Frame) -> list[int]:
        spec = self.detector.spec
        location = self.camera.location
        seqs = []
        for finding in findings:
            event = finding_payload(
                finding,
                event_id=new_event_id(),
                camera_id=self.camera.camera_id,
                frame_ts=frame.ts,
                frame_wh=frame.wh,
                location=(location.lon, location.lat) if location else None,
                rule_id=analytic.config.id,
                rule_version=analytic.config.version,
                detector_model={"name": spec.name, "version": spec.version, "sha256": spec.sha256},
            )
            zone = self.zones.get(finding.zone_id) if finding.zone_id else None
            request = EvidenceRequest(
                frame=frame.image,
                ts=frame.ts,
                box_xyxy=finding.xyxy or (0.0, 0.0, float(frame.wh[0]), float(frame.wh[1])),
                label=finding.label,
                zone_px=zone.pixel_polygon(frame.wh) if zone else None,
            )
            seq = self.recorder.record(event, request)
            if seq is not None:
                seqs.append(seq)
        return seqs


class PipelineWorker:
    """Runs one camera's pipeline on its own thread, fed by that camera's reader."""

    def __init__(
        self,
        pipeline: CameraPipeline,
        next_frame: Callable[[float], Frame | None],
        on_frame: Callable[[str, float | None], None] | None = None,
        on_pass: Callable[[str], None] | None = None,
    ) -> None:
        """`on_frame(camera_id, inference_ms)` after each analysed frame (metrics); `on_pass(camera_id)` after each
        pass of the loop, a frame or an idle wait (the systemd watchdog: a loop stuck in a frame stops calling)."""
        self.pipeline = pipeline
        self.on_frame = on_frame
        self.on_pass = on_pass
        self.on_stopped: Callable[[str], None] | None = None
        self.next_frame = next_frame
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pipeline-{pipeline.camera.camera_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0, end_stays: EndReason | None = None) -> None:
        """Stop the thread; with `end_stays`, then end the pipeline's open stays with that reason."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self.on_stopped is not None:
            self.on_stopped(self.pipeline.camera.camera_id)
        if end_stays is None:
            return
        if self._thread.is_alive():  # a frame is stuck: closing beside it would race on the analytics' state
            log.warning("camera %s: worker did not stop; its open stays are not ended", self.pipeline.camera.camera_id)
            return
        try:
            self.pipeline.close(end_stays)
        except Exception:
            log.exception("camera %s: ending open stays failed", self.pipeline.camera.camera_id)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def replace_pipeline(self, pipeline: CameraPipeline) -> None:
        """Take effect from the next frame (an attribute swap is atomic; a frame in flight finishes on the old)."""
        self.pipeline = pipeline

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.on_pass is not None:
                self.on_pass(self.pipeline.camera.camera_id)
            frame = self.next_frame(0.5)
            if frame is None:
                try:
                    self.pipeline.idle(time.monotonic())
                except Exception:
                    log.exception("camera %s: idle check failed", self.pipeline.camera.camera_id)
                continue
            try:
                self.pipeline.process(frame)
                if self.on_frame is not None:
                    pipeline = self.pipeline
                    self.on_frame(pipeline.camera.camera_id, getattr(pipeline.detector, "last_inference_ms", None))
            except Exception:  # one bad frame must not end the camera's analysis
                self.errors += 1
                log.exception("camera %s: frame %d failed", self.pipeline.camera.camera_id, frame.index)
                self._stop.wait(min(5.0, 0.1 * self.errors))
