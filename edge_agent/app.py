"""Composition root: build every part from the config, start them in a readable order, stop in reverse.

Everything that can be wrong with the configuration (rules files, model files and hashes, class names) is checked
before the first thread starts, so a bad config fails at once with a message instead of half-starting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cityops.contract.topics import Topic
from edge_agent import __version__
from edge_agent.analytics.thresholds import detection_floor
from edge_agent.capture.reader import CameraReader, CameraStatus
from edge_agent.capture.sources import StillImageSource, open_source
from edge_agent.comms.disk_guard import DiskGuard
from edge_agent.comms.evidence_upload import EvidenceUploader, HttpEvidenceUploader
from edge_agent.comms.link import Link
from edge_agent.comms.outbox import Outbox
from edge_agent.comms.sender import EventSender
from edge_agent.config import CameraConfig, ConfigError, EdgeConfig
from edge_agent.control import Controller
from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.detectors.base import Detector, OnnxDetector
from edge_agent.detectors.batcher import InferenceBatcher, batch_model, serving_detector
from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.health import HealthReporter, HealthSnapshot, LatencyWindow, ProcessStats, build_health
from edge_agent.integrity.camera_faults import CameraFaultDetector
from edge_agent.metrics import EdgeMetrics
from edge_agent.model_watch import ModelWatch, Totals
from edge_agent.models.manifest import ModelSpec, ModelStore, file_sha256, load_manifest
from edge_agent.pipeline import CameraPipeline, PipelineWorker
from edge_agent.plates.recognizer import PlateModels
from edge_agent.recorder import EventRecorder, PlateBlur
from edge_agent.remote.commands import RemoteCommands
from edge_agent.remote.device_config import RemotePlan, check_source, plan_remote_config
from edge_agent.rules import CameraRules, load_rules
from edge_agent.tracking import TrackIdAllocator
from edge_agent.watchdog import PipelineWatchdog, sd_notify, watchdog_interval_s

log = logging.getLogger(__name__)

TENSORRT_CACHE_DIR = "tensorrt-cache"


class StartableLink(Link, Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


REMOTE_CAMERAS_META = "remote_cameras"
"""Outbox meta key: the cameras added by a hub `config` ({camera_id: {"camera": ..., "rules": ...}}), kept until
the agent's own file names them, so a restart (even without the hub) runs them again with their latest rules."""

LinkFactory = Callable[[Callable[[Topic, bytes], None], Callable[[], None]], StartableLink]
"""(on_message, on_connected) -> a link that is not started yet."""


@dataclass(slots=True)
class CameraRuntime:
    """One camera's running parts; replaced as a whole by `restart_pipeline`."""

    config: CameraConfig
    reader: CameraReader
    worker: PipelineWorker
    track_ids: TrackIdAllocator

    @property
    def pipeline(self) -> CameraPipeline:
        return self.worker.pipeline


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
        self.cameras: dict[str, CameraRuntime] = {}
        self.rules: dict[str, CameraRules] = {}
        self.latency = LatencyWindow()
        self.process_stats = ProcessStats()
        self.face_spec: ModelSpec | None = None
        self.blurrer: FaceBlurrer | None = None
        self.plate_blur: PlateBlur | None = None  # pixelates plates in pictures whose rule does not handle them
        self.plates: PlateModels | None = None
        self.metrics = EdgeMetrics()
        self.inference_lock = threading.Lock()
        self._swap_lock = threading.Lock()  # one live change (config, model, restart) at a time
        self.model_path: Path | None = None
        self._model_since = Totals(0, 0)  # camera totals when the running model took over
        self.model_watch: ModelWatch | None = None
        self._model_watch_report: dict[str, object] | None = None
        interval = watchdog_interval_s()
        self.watchdog = PipelineWatchdog(interval) if interval else None  # systemd's WatchdogSec, when set
        self._cameras_stopped = False  # set under _swap_lock: no live change may start a camera after the stop

    @property
    def readers(self) -> list[CameraReader]:
        return [c.reader for c in self.cameras.values()]

    @property
    def workers(self) -> list[PipelineWorker]:
        return [c.worker for c in self.cameras.values()]

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
        if cfg.privacy.send_faces_unblurred:
            log.warning(
                "privacy.send_faces_unblurred is on: pictures leave this box with faces VISIBLE "
                "(evidence, snapshots, camera-fault pictures); the hub shows this box as such"
            )
        else:  # every picture that leaves the box, evidence on or off (snapshots, probes, camera faults)
            self.face_spec, face_path = store.resolve(cfg.evidence.face_model)
        rules = {c.camera_id: load_rules(c.rules) for c in cfg.cameras}
        for camera in cfg.cameras:
            rules[camera.camera_id].check_classes(spec.classes, str(camera.rules))
        for camera in cfg.cameras:
            # Refuses a missing file, a bad usb:N or a GStreamer pipeline without appsink now; opens nothing.
            open_source(camera.source, camera.loop, camera.decode_threads)

        # 2. Durable state: the outbox also remembers a model update and the live config the hub sent last.
        evidence_dir = cfg.data_dir / "evidence"
        self.outbox = Outbox(
            cfg.data_dir / "outbox.sqlite",
            max_events=cfg.outbox.max_events,
            retransmit_after_s=cfg.outbox.retransmit_after_s,
            max_backoff_s=cfg.outbox.max_backoff_s,
            max_bytes=cfg.outbox.max_bytes,
            low_priority_share=cfg.outbox.low_priority_share,
            disk_guard=DiskGuard(
                cfg.data_dir, cfg.outbox.disk_reserve_mb * 1024**2, cfg.outbox.disk_ballast_mb * 1024**2
            ),
        )
        self._on_stop("outbox", self.outbox.close)
        spec, model_path = self._model_override(spec, model_path)
        self.model_path = model_path  # the file the running model came from (a rollback returns to it)
        remote_cameras, remote_rules = self._stored_remote_cameras(spec.classes)
        rules.update(remote_rules)
        sources = {c.camera_id: c.source for c in [*cfg.cameras, *remote_cameras]}
        rules.update(self._stored_live_rules(sources, spec.classes))
        self.rules = rules
        # Plate models load on first need (a live rules change may ask later); rules that need them now load them
        # now, so a missing OCR wheel or plate model fails the start with its reason.
        self.plates = PlateModels(
            lambda name: store.resolve(name)[1],
            providers=tuple(cfg.runtime.providers) if cfg.runtime.providers else None,
            intra_op_threads=cfg.runtime.intra_op_threads,
        )
        for camera_rules in rules.values():
            self.plates.recognizer(camera_rules.plate_options())

        # 3. The model, warmed up so the first real frame is not slow.
        options = self.detector_options = detector_options(cfg, rules.values())
        detector = create_detector(spec, model_path, options)
        detector.warm_up()
        # With several cameras, inference threads run their frames, as batches when the model allows it.
        camera_count = len(cfg.cameras) + len(remote_cameras)
        self.detector: Detector = serving_detector(detector, cfg.inference, camera_count)
        self._on_stop("detector", self._close_detector)
        # Faces through the same providers as the detector (on a Jetson: the GPU), one CPU thread otherwise.
        blurrer = self.blurrer = FaceBlurrer(face_path, providers=options.providers) if face_path else None
        pruned = self.outbox.prune_orphan_evidence(evidence_dir)
        if pruned:
            log.info("removed %d orphan evidence files", pruned)
        log.info("outbox: %d unacked events, last seq %d", self.outbox.depth(), self.outbox.last_seq())

        # 4. The hub connection: sender, control, link (started last, in 6).
        uploader = self._uploader or self._http_uploader()
        # The link calls back into controller, sender and health, which publish through the link: build the link
        # with late-bound callbacks; nothing calls back before link.start().
        link = self._link_factory(
            lambda suffix, payload: self.controller.on_message(suffix, payload),
            lambda: self.sender.on_connected(),
        )
        self.link = link
        self.sender = EventSender(
            cfg.device_id, self.outbox, link, uploader, max_upload_attempts=cfg.evidence.max_upload_attempts
        )
        commands = RemoteCommands(self)
        self._on_stop("remote commands", commands.close)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="command")
        self._on_stop("command executor", lambda: executor.shutdown(wait=True, cancel_futures=True))
        self.controller = Controller(
            link,
            self.outbox,
            on_ack=self.sender.on_ack,
            handlers=commands.handlers(),
            apply_config=self.apply_live_config,
            executor=executor,
            on_config_change=lambda: self.health.report_soon(),
        )
        self.plate_blur = self.plates.blurrer().blur
        self.recorder = EventRecorder(
            self.outbox,
            evidence_dir,
            cfg.evidence,
            blurrer,
            on_recorded=self.sender.wake,
            metrics=self.metrics,
            faces_unblurred=cfg.privacy.send_faces_unblurred,
            plate_blur=self.plate_blur,
        )
        self._on_stop("link", link.stop)  # stopped in this place of the order; started in 6
        self.sender.start()
        self._on_stop("sender", self.sender.stop)
        # Stopped before the sender: the events still waiting for their evidence picture reach the outbox first.
        self._on_stop("evidence recorder", self.recorder.close)
        if isinstance(uploader, HttpEvidenceUploader):
            self._on_stop("uploader", uploader.close)

        # 5. Cameras: readers first, then the pipelines that consume them.
        self._on_stop("cameras", self._stop_cameras)
        for camera in [*cfg.cameras, *remote_cameras]:
            self.cameras[camera.camera_id] = self._start_camera(camera)

        # 6. Health and metrics last: they report on everything above. Then the link: a configuration or command
        # from the hub (the retained `config` arrives at once) always finds the cameras it names running.
        self.metrics.watch(self.outbox, self.camera_statuses, self._batch_sizes)
        if cfg.metrics.port is not None:
            self._on_stop("metrics server", self.metrics.serve(cfg.metrics.host, cfg.metrics.port))
        self.health = HealthReporter(link, self.health_snapshot, cfg.health_interval_s, spool=self.outbox.spool)
        link.start()
        self.health.start()
        self._on_stop("health", self.health.stop)
        log.info("edge agent running: %d camera(s), model %s", len(self.cameras), spec.name)

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
        sd_notify("READY=1")  # Type=notify: started only once cameras and the link are up
        try:
            stop_event.wait()
        finally:
            sd_notify("STOPPING=1")
            self.stop()

    # -- health --------------------------------------------------------------------------------------------

    # -- cameras -------------------------------------------------------------------------------------------

    def _start_camera(
        self, camera: CameraConfig, track_ids: TrackIdAllocator | None = None, rules: CameraRules | None = None
    ) -> CameraRuntime:
        assert self.outbox is not None
        # A fresh source object per (re)connect; the first one was built in _start only to validate the config.
        reader = CameraReader(
            camera.camera_id,
            lambda c=camera: _open_camera(c),
            camera.fps,
            stall_after_s=camera.stall_after_s,
            offline_after_s=camera.integrity.offline_s,
        )
        track_ids = track_ids or TrackIdAllocator(self.outbox, camera.camera_id)
        integrity = None
        if camera.integrity.enabled:
            still = isinstance(open_source(camera.source, camera.loop, camera.decode_threads), StillImageSource)
            # A still picture standing in for a camera is "frozen" by nature; never report that.
            integrity = CameraFaultDetector(camera.camera_id, camera.integrity, check_frozen=not still)
        pipeline = CameraPipeline(
            camera,
            rules if rules is not None else self.rules[camera.camera_id],
            self.detector,
            self.recorder,
            self.latency,
            self.inference_lock,
            track_ids=track_ids,
            integrity=integrity,
            plates=self.plates,
            score_threshold=self.config.runtime.score_threshold,
        )
        watchdog = self.watchdog
        worker = PipelineWorker(
            pipeline, reader.get, on_frame=self.metrics.on_frame, on_pass=watchdog.alive if watchdog else None
        )
        if watchdog is not None:
            worker.on_stopped = watchdog.forget
        reader.start()
        worker.start()
        return CameraRuntime(camera, reader, worker, track_ids)

    def _stop_cameras(self) -> None:
        with self._swap_lock:
            self._cameras_stopped = True
            for runtime in self.cameras.values():
                # Open stays end now (`agent_stopped`), before the recorder and the outbox close after this.
                runtime.worker.stop(end_stays="agent_stopped")
                runtime.reader.stop()

    def restart_pipeline(self, camera_id: str | None = None) -> list[str]:
        """Reopen the source and rebuild the analysis of one camera (or all); track ids continue."""
        with self._swap_lock:
            if self._cameras_stopped:
                raise RuntimeError("the agent is stopping")
            targets = [camera_id] if camera_id else list(self.cameras)
            for cid in targets:
                if cid not in self.cameras:
                    raise ValueError(f"no camera {cid!r}; cameras: {', '.join(self.cameras)}")
            for cid in targets:
                old = self.cameras[cid]
                old.worker.stop(end_stays="pipeline_restarted")
                old.reader.stop()
                self.cameras = {**self.cameras, cid: self._start_camera(old.config, old.track_ids)}
                log.info("camera %s: pipeline restarted", cid)
            return targets

    def apply_live_config(self, payload: bytes) -> int:
        """Validate a hub `config` payload completely, start the cameras it adds, then swap the named cameras'
        rules between two frames. Runs on the MQTT network thread: nothing here waits on a camera."""
        with self._swap_lock:
            if self._cameras_stopped:
                raise ConfigError("the agent is stopping")
            running = {cid: runtime.config.source for cid, runtime in self.cameras.items()}
            plan = plan_remote_config(payload, running, self.detector.spec.classes)
            self._check_detector_keeps(plan.rules)
            # Build every successor first (pure), then start and remember the added cameras: if any of it fails,
            # nothing has been swapped yet and the cameras this call started are stopped again.
            successors = {
                cid: self.cameras[cid].pipeline.successor(r) for cid, r in plan.rules.items() if cid in running
            }
            added = self._start_added_cameras(plan)
            for cid, pipeline in successors.items():
                self.cameras[cid].worker.replace_pipeline(pipeline)
            # New dicts, never changed in place: the health and metrics threads iterate them without the lock.
            self.rules = {**self.rules, **plan.rules}
            self.cameras = {**self.cameras, **added}
            return plan.version

    def _check_detector_keeps(self, rules: dict[str, CameraRules]) -> None:
        """Refuse rules asking for lower scores than the running detector keeps: they would silently never see them.

        The detector's cut is chosen at start from the rules known then; lowering it live would need every
        detector copy (batched, per thread) rebuilt, so a restart applies such rules instead.
        """
        kept = self.detector_options.score_threshold
        for cid, camera_rules in rules.items():
            needed = detection_floor(camera_rules.analytics, self.config.runtime.score_threshold)
            if needed < kept:
                raise ConfigError(
                    f"camera {cid} rules: ask for detection scores down to {needed:g}, the running detector keeps "
                    f"scores from {kept:g}; restart the agent (it then keeps what its rules ask for)"
                )

    def _start_added_cameras(self, plan: RemotePlan) -> dict[str, CameraRuntime]:
        started: dict[str, CameraRuntime] = {}
        try:
            for cid, entry in plan.new_cameras.items():
                started[cid] = self._start_camera(_remote_camera_config(entry.camera()), rules=plan.rules[cid])
                log.info("camera %s added by the hub's configuration version %d", cid, plan.version)
            self._remember_remote_cameras(plan)
        except BaseException:
            for runtime in started.values():
                runtime.worker.stop()
                runtime.reader.stop()
            raise
        return started

    def _remember_remote_cameras(self, plan: RemotePlan) -> None:
        """Keep the added cameras, and the latest rules of every camera ever added, across restarts."""
        assert self.outbox is not None
        stored = json.loads(self.outbox.get_meta(REMOTE_CAMERAS_META) or "{}")
        for cid, entry in plan.new_cameras.items():
            stored[cid] = {"camera": entry.camera()}
        changed = False
        for cid, rules in plan.rules.items():
            if cid in stored:
                stored[cid]["rules"] = rules.model_dump(mode="json")
                changed = True
        if changed:
            self.outbox.set_meta(REMOTE_CAMERAS_META, json.dumps(stored))

    def swap_detector(self, detector: OnnxDetector) -> None:
        """Make a loaded, warmed-up detector the one every camera uses (between two inferences).

        Raises before anything is swapped if it cannot be used. A running batcher keeps serving, with the new model
        from its next frame on (batched if that model can be, one frame a run on its threads if not).
        """
        for cid in self.cameras:
            self.rules[cid].check_classes(detector.spec.classes, f"camera {cid} rules")
        current = self.detector
        cameras = max(len(self.config.cameras), len(self.cameras))
        if isinstance(current, InferenceBatcher):
            inference = self.config.inference
            max_batch = inference.batch_for(cameras)
            current.replace(*batch_model(detector, max_batch, inference.workers_for(max_batch)))
            return
        serving = serving_detector(detector, self.config.inference, cameras)
        with self.inference_lock:
            self.detector = serving
            for runtime in self.cameras.values():
                runtime.pipeline.detector = serving

    def detection_totals(self) -> Totals:
        """Frames and confident detections of every camera so far (the counts go on across rule changes)."""
        pipelines = [runtime.pipeline for runtime in self.cameras.values()]
        return Totals(sum(p.frames for p in pipelines), sum(p.detected for p in pipelines))

    def watch_new_model(self, previous_spec: ModelSpec, previous_override: str | None, new_path: Path) -> None:
        """After `model_update` swapped models: watch the new one's detections on its own thread and swap the
        previous model back when they collapse; the file of the loser is deleted."""
        now = self.detection_totals()
        cfg = self.config.model_updates
        watch = ModelWatch(
            now.rate_since(self._model_since), now,
            rollback_below=cfg.rollback_below, watch_frames=cfg.watch_frames, min_baseline=cfg.min_baseline,
        )  # fmt: skip
        previous_path = self.model_path
        self._model_since, self.model_watch, self.model_path = now, watch, new_path
        new_sha = self.detector.spec.sha256
        self._model_watch_report = {"sha256": new_sha, "previous_sha256": previous_spec.sha256, **watch.report()}

        def run() -> None:
            while watch.observe(self.detection_totals()) == "watching" and not self._cameras_stopped:
                time.sleep(1.0)
            if watch.verdict == "rolled_back" and previous_path is not None:
                self._roll_back(previous_spec, previous_path, previous_override, new_path, watch)
            elif watch.verdict in ("kept", "not_judged") and previous_override:
                old = Path(json.loads(previous_override)["path"])
                if old != new_path:
                    old.unlink(missing_ok=True)
            # Reported once done: a "rolled_back" in health means the previous model is serving again.
            self._model_watch_report = {"sha256": new_sha, "previous_sha256": previous_spec.sha256, **watch.report()}

        threading.Thread(target=run, name="model-watch", daemon=True).start()

    def _roll_back(self, spec: ModelSpec, path: Path, override: str | None, new_path: Path, watch: ModelWatch) -> None:
        log.error(
            "model %s sha256 %s detects %.3f per frame against %.3f before: rolling back to sha256 %s",
            spec.name, self.detector.spec.sha256[:12], watch.rate or 0.0, watch.baseline or 0.0, spec.sha256[:12],
        )  # fmt: skip
        with self._swap_lock:  # not while the agent stops (its outbox closes after the cameras)
            if self._cameras_stopped:
                return
            try:
                detector = create_detector(spec, path, self.detector_options)
                detector.warm_up()
                self.swap_detector(detector)
            except Exception:
                log.exception("rolling back to %s sha256 %s failed; the new model stays", spec.name, spec.sha256[:12])
                return
            assert self.outbox is not None
            self.outbox.set_meta("model_override", override or "")
            self.model_path, self._model_since = path, self.detection_totals()
            new_path.unlink(missing_ok=True)

    def _batch_sizes(self) -> dict[int, int] | None:
        detector = self.detector
        return detector.batch_sizes() if isinstance(detector, InferenceBatcher) else None

    def _close_detector(self) -> None:
        if isinstance(self.detector, InferenceBatcher):
            self.detector.close()

    def camera_statuses(self) -> list[CameraStatus]:
        """Reader state, overridden by an open camera fault (a frozen or covered camera still "reads" fine)."""
        statuses = []
        for runtime in self.cameras.values():
            status = runtime.reader.status()
            integrity = runtime.pipeline.integrity
            faults = sorted(integrity.active()) if integrity is not None else []
            if status.status == "ok" and faults:
                status = dataclasses.replace(status, status=faults[0], detail=f"camera fault: {', '.join(faults)}")
            statuses.append(status)
        return statuses

    def _model_override(self, spec: ModelSpec, path: Path) -> tuple[ModelSpec, Path]:
        """A model installed by `cmd model_update` survives restarts (if its file is still intact)."""
        assert self.outbox is not None
        stored = self.outbox.get_meta("model_override")
        if not stored:
            return spec, path
        override = json.loads(stored)
        candidate = Path(override["path"])
        intact = candidate.is_file() and file_sha256(candidate) == override["sha256"]
        if override.get("name") != spec.name or not intact:
            log.warning("ignoring stored model update %s: not for %s, or its file is gone/changed", stored, spec.name)
            return spec, path
        log.info("using model %s from model_update (sha256 %s)", spec.name, override["sha256"][:12])
        return spec.model_copy(update={"sha256": override["sha256"]}), candidate

    def _stored_live_rules(self, sources: dict[str, str], classes: tuple[str, ...]) -> dict[str, CameraRules]:
        """Rules from the last applied hub config, so a restart without the hub keeps running them."""
        assert self.outbox is not None
        stored = self.outbox.get_meta("config_payload")
        if not stored:
            return {}
        try:
            plan = plan_remote_config(stored.encode(), sources, classes)
        except ConfigError as exc:
            log.error("stored hub config no longer applies (%s); using the rules files", exc)
            return {}
        return {cid: rules for cid, rules in plan.rules.items() if cid in sources}

    def _stored_remote_cameras(self, classes: tuple[str, ...]) -> tuple[list[CameraConfig], dict[str, CameraRules]]:
        """The cameras a hub config added (see REMOTE_CAMERAS_META). One that no longer works (its file is gone, its
        rules name classes the model lacks) is left out with an error in the log: it must not stop the agent, whose
        next hub config then names the problem in health."""
        assert self.outbox is not None
        stored = json.loads(self.outbox.get_meta(REMOTE_CAMERAS_META) or "{}")
        own = {c.camera_id for c in self.config.cameras}
        cameras, rules = [], {}
        for cid, entry in stored.items():
            if cid in own:
                log.info("camera %s is in the agent's file now; its remotely added twin is not started", cid)
                continue
            where = f"camera {cid} added by the hub"
            try:
                camera = _remote_camera_config(entry["camera"])
                check_source(camera.source, where)
                camera_rules = CameraRules.model_validate(entry["rules"])
                camera_rules.check_classes(classes, where)
            except (ConfigError, ValueError, KeyError) as exc:
                log.error("%s is not started: %s", where, exc)
                continue
            cameras.append(camera)
            rules[cid] = camera_rules
        return cameras, rules

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
            cameras=self.camera_statuses(),
            inference_ms_p50=self.latency.p50(),
            outbox_depth=self.outbox.depth() if self.outbox else 0,
            process=self.process_stats,
            models=models,
        )
        # Not in protocol v1's list but allowed (unknown fields are kept): makes a full outbox visible to the hub.
        if self.outbox is not None:
            snapshot.outbox_refused = self.outbox.refused
            snapshot.outbox_bytes = self.outbox.usage_bytes()
            snapshot.outbox_pressure = self.outbox.pressure()
            snapshot.outbox_dropped_low_priority = self.outbox.dropped_low_priority
            guard = self.outbox.disk_guard
            if guard is not None:
                guard.check()
                snapshot.disk = guard.status()
                snapshot.alarms = guard.alarms()
        # Events the hub got without their picture (evidence_missing says why, per event).
        snapshot.events_without_picture = (
            self.sender.events_without_picture
            + self.recorder.stored_without_picture
            + (self.outbox.pictures_given_up if self.outbox else 0)
        )
        snapshot.config_error = self.controller.config_error
        snapshot.privacy = {"faces_blurred": self.blurrer is not None, "plates_blurred": True}
        if self._model_watch_report is not None:  # the last model update: watching, kept or rolled back
            snapshot.model_watch = self._model_watch_report
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
            ca_file=self.config.mqtt_ca_file,
        )

    def _http_uploader(self) -> HttpEvidenceUploader:
        mqtt = self.config.mqtt
        if not mqtt.password:
            log.warning("mqtt_url has no password; evidence uploads will be refused by the hub")
        return HttpEvidenceUploader(
            self.config.hub_url, self.config.device_id, mqtt.password or "", self.config.evidence.upload_timeout_s
        )


def detector_options(config: EdgeConfig, rules: Iterable[CameraRules]) -> DetectorOptions:
    """The detector's settings: `runtime`, with the score cut lowered to the lowest score any camera's rule asks for
    (each rule is then handed only its own scores by its pipeline)."""
    runtime = config.runtime
    return DetectorOptions(
        score_threshold=detection_floor([a for r in rules for a in r.analytics], runtime.score_threshold),
        nms_iou=runtime.nms_iou,
        providers=tuple(runtime.providers) if runtime.providers else None,
        intra_op_threads=runtime.intra_op_threads,
        # TensorRT engines are built once per model and GPU, then loaded from here (edge_agent/detectors/session.py).
        tensorrt_cache=config.data_dir / TENSORRT_CACHE_DIR,
        tensorrt_fp16=runtime.tensorrt.fp16,
        tensorrt_device=runtime.tensorrt.device,
    )


def _remote_camera_config(camera: dict) -> CameraConfig:
    """A camera added by the hub, as the agent's own config would describe it (defaults for what it leaves out)."""
    fields = {k: camera[k] for k in ("camera_id", "source", "fps", "location") if camera.get(k) is not None}
    # Its rules live in the hub config (and REMOTE_CAMERAS_META), not in a file: `rules` is only a label.
    return CameraConfig.model_validate({**fields, "rules": f"hub-config/{camera['camera_id']}"})


def _open_camera(camera: CameraConfig):
    source = open_source(camera.source, camera.loop, camera.decode_threads)
    if hasattr(source, "read_timeout_s"):
        source.read_timeout_s = camera.read_timeout_s
    return source


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
