"""The agent's remote commands: `snapshot`, `model_update`, `restart_pipeline` (plus the controller's `ping`).

Each takes the Command and returns the cmd_result detail, or raises with the reason (ok=false). They run on the
controller's command thread, never on the MQTT network thread.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from cityops.contract.messages import Command
from edge_agent.detectors import create_detector
from edge_agent.remote.model_update import download_verified, parse_args, same_origin
from edge_agent.remote.snapshot import encode_snapshot, upload_snapshot

if TYPE_CHECKING:
    from edge_agent.app import EdgeAgent

log = logging.getLogger(__name__)

MAX_MODEL_BYTES = 1024**3


class RemoteCommands:
    def __init__(self, agent: EdgeAgent, http_timeout_s: float = 30.0) -> None:
        self.agent = agent
        config = agent.config
        self.device_auth = (config.device_id, config.mqtt.password or "")
        self.http = httpx.Client(timeout=http_timeout_s)

    def handlers(self) -> dict:
        return {"snapshot": self.snapshot, "model_update": self.model_update, "restart_pipeline": self.restart}

    def close(self) -> None:
        self.http.close()

    def _camera_id(self, cmd: Command) -> str:
        cameras = self.agent.cameras
        camera_id = cmd.args.get("camera_id") or next(iter(cameras))
        if camera_id not in cameras:
            raise ValueError(f"no camera {camera_id!r}; cameras: {', '.join(cameras)}")
        return camera_id

    def snapshot(self, cmd: Command) -> str:
        camera_id = self._camera_id(cmd)
        frame = self.agent.cameras[camera_id].pipeline.last_frame
        if frame is None:
            raise RuntimeError(f"camera {camera_id} has delivered no frame yet")
        snap = encode_snapshot(frame.image, self.agent.blurrer, self.agent.config.evidence.jpeg_quality)
        cfg = self.agent.config
        client = httpx.Client(auth=self.device_auth, timeout=self.http.timeout)
        try:
            return upload_snapshot(client, cfg.hub_url, cfg.device_id, cmd.cmd_id, camera_id, snap)
        finally:
            client.close()

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
        dest = agent.config.data_dir / "models" / f"{args.name}-{args.sha256[:16]}.onnx"
        auth = self.device_auth if same_origin(args.url, agent.config.hub_url) else None
        download_verified(self.http, args.url, args.sha256, dest, auth, MAX_MODEL_BYTES)
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
        if previous:  # the file of the update this one replaces is no longer needed
            old = Path(json.loads(previous)["path"])
            if old != dest:
                old.unlink(missing_ok=True)
        log.info("model %s updated to sha256 %s", spec.name, spec.sha256[:12])
        return f"model {spec.name} now sha256 {spec.sha256}"
