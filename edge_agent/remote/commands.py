"""The agent's remote commands: `snapshot`, `probe`, `model_update`, `restart_pipeline` (plus the controller's `ping`).

Each takes the Command and returns the cmd_result detail, or raises with the reason (ok=false). They run on the
controller's command thread, never on the MQTT network thread. What they need of the running agent is the small
`AgentControls` protocol (EdgeAgent provides it), so this module does not import the composition root.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import httpx

from cityops.contract.messages import Command
from edge_agent.comms.outbox import Outbox
from edge_agent.config import EdgeConfig
from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.detectors.base import Detector, OnnxDetector
from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.models.manifest import ModelSpec
from edge_agent.pipeline import CameraPipeline
from edge_agent.recorder import PlateBlur
from edge_agent.remote.model_update import check_release, download_verified, parse_args, same_origin
from edge_agent.remote.probe import parse_probe_args, probe_source
from edge_agent.remote.snapshot import encode_snapshot, upload_snapshot

log = logging.getLogger(__name__)

MAX_MODEL_BYTES = 1024**3


class CameraHandle(Protocol):
    @property
    def pipeline(self) -> CameraPipeline: ...


class AgentControls(Protocol):
    """The parts of the running agent the commands read or change."""

    config: EdgeConfig
    blurrer: FaceBlurrer | None
    plate_blur: PlateBlur | None
    detector: Detector
    detector_options: DetectorOptions
    outbox: Outbox | None

    @property
    def cameras(self) -> Mapping[str, CameraHandle]: ...

    def restart_pipeline(self, camera_id: str | None = None) -> list[str]: ...

    def swap_detector(self, detector: OnnxDetector) -> None: ...

    def watch_new_model(self, previous_spec: ModelSpec, previous_override: str | None, new_path: Path) -> None: ...


class RemoteCommands:
    def __init__(self, agent: AgentControls, http_timeout_s: float = 30.0) -> None:
        self.agent = agent
        config = agent.config
        self.device_auth = (config.device_id, config.mqtt.password or "")
        self.http = httpx.Client(timeout=http_timeout_s)

    def handlers(self) -> dict[str, Callable[[Command], str]]:
        return {
            "snapshot": self.snapshot,
            "probe": self.probe,
            "model_update": self.model_update,
            "restart_pipeline": self.restart,
        }

    def close(self) -> None:
        self.http.close()

    def _camera_id(self, cmd: Command) -> str:
        cameras = self.agent.cameras
        camera_id = cmd.args.get("camera_id") or next(iter(cameras))
        if camera_id not in cameras:
            raise ValueError(f"no camera {camera_id!r}; cameras: {', '.join(cameras)}")
        return camera_id

    def _upload(self, cmd: Command, camera_id: str | None, image) -> str:
        """The picture, faces blurred, as the snapshot answering `cmd`; returns the upload's JSON detail."""
        cfg = self.agent.config
        snap = encode_snapshot(image, self.agent.blurrer, cfg.evidence.jpeg_quality, self.agent.plate_blur)
        client = httpx.Client(auth=self.device_auth, timeout=self.http.timeout)
        try:
            return upload_snapshot(client, cfg.hub_url, cfg.device_id, cmd.cmd_id, camera_id, snap)
        finally:
            client.close()

    def snapshot(self, cmd: Command) -> str:
        camera_id = self._camera_id(cmd)
        frame = self.agent.cameras[camera_id].pipeline.last_frame
        if frame is None:
            raise RuntimeError(f"camera {camera_id} has delivered no frame yet")
        return self._upload(cmd, camera_id, frame.image)

    def probe(self, cmd: Command) -> str:
        """Read one frame of a source this box may not run yet; answer its format, upload the frame as a snapshot.
        A failed upload still answers ok (the camera works), with `snapshot_error`."""
        args = parse_probe_args(cmd.args)
        found = probe_source(args.source, args.timeout_s)
        detail: dict = {"width": found.width, "height": found.height, "fps": found.fps}
        if found.codec:
            detail["codec"] = found.codec
        try:
            detail["snapshot"] = json.loads(self._upload(cmd, args.camera_id, found.image))
        except Exception as exc:
            log.warning("probe %s: the frame was read but its upload failed: %s", cmd.cmd_id, exc)
            detail["snapshot_error"] = str(exc)
        return json.dumps(detail)

    def restart(self, cmd: Command) -> str:
        camera_id = cmd.args.get("camera_id")
        return f"restarted: {', '.join(self.agent.restart_pipeline(camera_id))}"

    def model_update(self, cmd: Command) -> str:
        """Download, verify, load and warm up a new detector; swap only if all of that worked."""
        agent = self.agent
        args = parse_args(cmd.args)
        current = agent.detector.spec
        if args.name != current.name:
            raise ValueError(f"model_update names {args.name!r}, but this agent runs {current.name!r}")
        if args.sha256 == current.sha256:
            return f"model {args.name} already at sha256 {args.sha256[:12]}"
        trust = check_release(args, agent.config.model_updates)  # before a byte is downloaded
        dest = agent.config.data_dir / "models" / f"{args.name}-{args.sha256[:16]}.onnx"
        auth = self.device_auth if same_origin(args.url, agent.config.hub_url) else None
        limit = args.size if args.size is not None else MAX_MODEL_BYTES
        download_verified(self.http, args.url, args.sha256, dest, auth, min(limit, MAX_MODEL_BYTES))
        spec = current.model_copy(update={"sha256": args.sha256})
        try:
            detector = create_detector(spec, dest, agent.detector_options)
            detector.warm_up()
            agent.swap_detector(detector)
        except Exception as exc:
            dest.unlink(missing_ok=True)
            raise RuntimeError(f"new model does not load, keeping sha256 {current.sha256[:12]}: {exc}") from exc
        outbox = agent.outbox
        assert outbox is not None  # commands only arrive once the agent has started
        previous = outbox.get_meta("model_override")
        outbox.set_meta("model_override", json.dumps({"name": spec.name, "sha256": spec.sha256, "path": str(dest)}))
        # The previous model stays on disk until the new one has proved itself (or is rolled back to it).
        agent.watch_new_model(current, previous, dest)
        log.info("model %s updated to sha256 %s (%s)", spec.name, spec.sha256[:12], trust)
        return f"model {spec.name} now sha256 {spec.sha256} ({trust}); watched for a collapse of its detections"
