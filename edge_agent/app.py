"""Composition root: build every part from the config, start them in a readable order, stop in reverse.

Everything that can be wrong with the configuration (rules files, model files and hashes, class names) is checked
before the first thread starts, so a bad config fails at once with a message instead of half-starting.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cityops.contract.topics import Topic
from edge_agent import __version__
from edge_agent.capture.reader import CameraReader
from edge_agent.capture.sources import open_source
from edge_agent.comms.evidence_upload import EvidenceUploader, HttpEvidenceUploader
from edge_agent.comms.link import Link
from edge_agent.comms.outbox import Outbox
from edge_agent.comms.sender import EventSender
from edge_agent.config import EdgeConfig
from edge_agent.control import Controller
from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.health import HealthReporter, HealthSnapshot, LatencyWindow, ProcessStats, build_health
from edge_agent.models.manifest import ModelSpec, ModelStore, load_manifest
from edge_agent.pipeline import CameraPipeline, PipelineWorker
from edge_agent.recorder import EventRecorder
from edge_agent.rules import load_rules

log = logging.getLogger(__name__)


class StartableLink(Link, Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


LinkFactory = Callable[[Callable[[Topic, bytes], None], Callable[[], None]], StartableLink]
"""(on_message, on_connected) -> a link that is not started yet."""


class EdgeAgent:
    def __init__(
        self,
        config: EdgeConfig,
        *,
        link_factory: LinkFactory | None = None,
        uploader: EvidenceUploader | None = None,
    ) -> None:
        self.config = config
        self._link_factory = link_factory or self._mqtt_link
        self._uploader = uploader
        self._started_mono = time.monotonic()
        self._stoppers: list[tuple[str, Callable[[], None]]] = []
        self.outbox: Outbox | None = None
        self.readers: list[CameraReader] = []
        self.workers: list[PipelineWorker] = []
        self.latency = LatencyWindow()
        self.process_stats = ProcessStats()
        self.face_spec: ModelSpec | None = None

    # -- start / stop --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything; on any failure, stop what had started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        cfg = self.config
        log.info("edge agent %s starting as %s", __version__, cfg.device_id)
        # 1. Everything that only reads config and files: fail fast, start nothing yet.
        store = ModelStore(load_manifest(cfg.manifest), cfg.models_dir, cfg.data_dir / "model-hashes.json")
        spec, model_path = store.resolve(cfg.model)
        face_path = None
        if cfg.evidence.enabled and cfg.evidence.blur_faces:
            self.face_spec, face_path = store.resolve(cfg.evidence.face_model)
        rules = {c.camera_id: load_rules(c.rules) for c in cfg.cameras}
        for camera in cfg.cameras:
            rules[camera.camera_id].check_classes(spec.classes, str(camera.rules))
        for camera in cfg.cameras:
            open_source(camera.source, camera.loop)  # refuses a missing file or a bad usb:N now, opens nothing

        # 2. The model, warmed up so the first real frame is not slow.
        options = DetectorOptions(
            score_threshold=cfg.runtime.score_threshold,
            nms_iou=cfg.runtime.nms_iou,
            providers=tuple(cfg.runtime.providers) if cfg.runtime.providers else None,
            intra_op_threads=cfg.runtime.intra_op_threads,
        )
        self.detector = create_detector(spec, model_path, options)
        self.detector.warm_up()
        blurrer = FaceBlurrer(face_path) if face_path else None

        # 3. Durable state before anything can produce or send events.
        evidence_dir = cfg.data_dir / "evidence"
        self.outbox = Outbox(
            cfg.data_dir / "outbox.sqlite",
            max_events=cfg.outbox.max_events,
            retransmit_after_s=cfg.outbox.retransmit_after_s,
            max_backoff_s=cfg.outbox.max_backoff_s,
        )
        self._on_stop("outbox", self.outbox.close)
        pruned = self.outbox.prune_orphan_evidence(evidence_dir)
        if pruned:
            log.info("removed %d orphan evidence files", pruned)
        log.info("outbox: %d unacked events, last seq %d", self.outbox.depth(), self.outbox.last_seq())

        # 4. The hub connection: sender, control, link.
        uploader = self._uploader or self._http_uploader()
        # The link calls back into controller and sender, which publish through the link: build the link with
        # late-bound callbacks; nothing calls back before link.start().
        link = self._link_factory(
            lambda suffix, payload: self.controller.on_message(suffix, payload),
            lambda: self.sender.on_connected(),
        )
        self.link = link
        self.sender = EventSender(cfg.device_id, self.outbox, link, uploader)
        self.controller = Controller(link, self.outbox, on_ack=self.sender.on_ack)
        self.recorder = EventRecorder(self.outbox, evidence_dir, cfg.evidence, blurrer, on_recorded=self.sender.wake)
        link.start()
        self._on_stop("link", link.stop)
        self.sender.start()
        self._on_stop("sender", self.sender.stop)
        if isinstance(uploader, HttpEvidenceUploader):
            self._on_stop("uploader", uploader.close)

        # 5. Cameras: readers first, then the pipelines that consume them.
        inference_lock = threading.Lock()
        for camera in cfg.cameras:
            # A fresh source object per (re)connect; the first one was built above only to validate the config.
            reader = CameraReader(camera.camera_id, lambda c=camera: open_source(c.source, c.loop), camera.fps)
            pipeline = CameraPipeline(
                camera, rules[camera.camera_id], self.detector, self.recorder, self.latency, inference_lock
            )
            worker = PipelineWorker(pipeline, reader.get)
            reader.start()
            self._on_stop(f"reader {camera.camera_id}", reader.stop)
            worker.start()
            self._on_stop(f"pipeline {camera.camera_id}", worker.stop)
            self.readers.append(reader)
            self.workers.append(worker)

        # 6. Health last: it reports on everything above.
        self.health = HealthReporter(link, self.health_snapshot, cfg.health_interval_s)
        self.health.start()
        self._on_stop("health", self.health.stop)
        log.info("edge agent running: %d camera(s), model %s", len(cfg.cameras), spec.name)

    def stop(self) -> None:
        """Stop in reverse order of start; every part is stopped even if one fails."""
        while self._stoppers:
            name, stop = self._stoppers.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)
        log.info("edge agent stopped")

    def run(self, stop_event: threading.Event) -> None:
        self.start()
        try:
            stop_event.wait()
        finally:
            self.stop()

    # -- health --------------------------------------------------------------------------------------------

    def health_snapshot(self) -> HealthSnapshot:
        models = [{"name": self.detector.spec.name, "sha256": self.detector.spec.sha256}]
        if self.face_spec is not None:
            models.append({"name": self.face_spec.name, "sha256": self.face_spec.sha256})
        snapshot = build_health(
            device_id=self.config.device_id,
            uptime_s=time.monotonic() - self._started_mono,
            agent_version=__version__,
            config_version=self.controller.config_version,
            cameras=[r.status() for r in self.readers],
            inference_ms_p50=self.latency.p50(),
            outbox_depth=self.outbox.depth() if self.outbox else 0,
            process=self.process_stats,
            models=models,
        )
        # Not in protocol v1's list but allowed (unknown fields are kept): makes a full outbox visible to the hub.
        snapshot.outbox_refused = self.outbox.refused if self.outbox else 0
        return snapshot

    # -- defaults ------------------------------------------------------------------------------------------

    def _on_stop(self, name: str, stop: Callable[[], None]) -> None:
        self._stoppers.append((name, stop))

    def _mqtt_link(self, on_message: Callable[[Topic, bytes], None], on_connected: Callable[[], None]):
        from edge_agent.comms.mqtt_link import MqttLink  # paho is needed only when the real link is used

        return MqttLink(
            self.config.device_id,
            self.config.mqtt,
            agent_version=__version__,
            on_message=on_message,
            on_connected=on_connected,
        )

    def _http_uploader(self) -> HttpEvidenceUploader:
        mqtt = self.config.mqtt
        if not mqtt.password:
            log.warning("mqtt_url has no password; evidence uploads will be refused by the hub")
        return HttpEvidenceUploader(
            self.config.hub_url, self.config.device_id, mqtt.password or "", self.config.evidence.upload_timeout_s
        )


def run_agent(config_path: Path) -> int:
    """`cityops edge run`: run until SIGTERM or SIGINT."""
    from edge_agent.config import load_config

    config = load_config(config_path)
    logging.getLogger("edge_agent").setLevel(config.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per evidence upload is noise
    stop_event = threading.Event()

    def _signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop_event.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    EdgeAgent(config).run(stop_event)
    return 0
