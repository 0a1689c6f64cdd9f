"""Evidence pictures and bytes per camera-hour, by update-picture policy, on the demo's camera.

The agent's own pipeline (real detector, ByteTrack, the demo's parking rules, the recorder with YuNet face blur and
JPEG) replays the demo camera's picture (or any clip) on a simulated clock: `--minutes` of camera time at `--fps`,
as fast as the box computes it. Each policy (`always`: a picture with every update, as before; `changed`: start, end
and updates whose scene changed) gets a fresh pipeline on the same frames; one JSON line per policy, then the ratio.

    .venv/bin/python -m bench.edge.evidence_bandwidth --minutes 60
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHARED = REPO.parent / "shared"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.edge.evidence_bandwidth", description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared models/media folder")
    p.add_argument("--source", default="media/mmdet_demo.jpg", help="picture or clip under --shared (the demo's)")
    p.add_argument("--rules", type=Path, default=REPO / "rules" / "edge" / "demo-street.yaml")
    p.add_argument("--model", default="yolox_nano")
    p.add_argument("--minutes", type=float, default=60.0, help="simulated camera time per policy")
    p.add_argument("--fps", type=float, default=1.0, help="frames analysed per simulated second")
    p.add_argument("--policies", default="always,changed")
    return p.parse_args(argv)


def frames_of(source: Path, fps: float, count: int) -> list[np.ndarray]:
    """The source's frames as the camera would deliver them at `fps` (a picture repeats; a clip loops)."""
    image = cv2.imread(str(source))
    if image is not None:
        return [image]
    capture = cv2.VideoCapture(str(source))
    native = capture.get(cv2.CAP_PROP_FPS) or 25.0
    step = max(1, round(native / fps))
    frames, index = [], 0
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(frame)
        index += 1
    capture.release()
    if not frames:
        raise SystemExit(f"error: {source} is neither a picture nor a readable clip")
    return frames


class _SameFrameDetector:
    """The agent's detector, asked once per distinct frame: a repeated still picture gives the same detections, so
    the bench spends its time on what differs between policies (tracking, rules, rendering), not on inference."""

    def __init__(self, detector) -> None:
        self._detector, self._cache = detector, {}
        self.spec = detector.spec

    def detect(self, image: np.ndarray):
        key = id(image)
        if key not in self._cache:
            self._cache[key] = self._detector.detect(image)
        return self._cache[key]


def run_policy(policy: str, args: argparse.Namespace, frames: list[np.ndarray], detector, blurrer) -> dict:
    from edge_agent.capture.sources import Frame
    from edge_agent.comms.outbox import Outbox
    from edge_agent.config import CameraConfig, EvidenceConfig
    from edge_agent.health import LatencyWindow
    from edge_agent.pipeline import CameraPipeline
    from edge_agent.recorder import EventRecorder
    from edge_agent.rules import load_rules
    from edge_agent.tracking import TrackIdAllocator

    total = int(args.minutes * 60 * args.fps)
    with tempfile.TemporaryDirectory(prefix="evidence-bandwidth-") as tmp:
        data = Path(tmp)
        outbox = Outbox(data / "outbox.sqlite")
        evidence = EvidenceConfig(update_pictures=policy)
        recorder = EventRecorder(outbox, data / "evidence", evidence, blurrer, background=False)
        phases: Counter[str] = Counter()
        record = recorder.record

        def counted(event: dict, request: object) -> int | None:
            phases[event["phase"]] += 1
            return record(event, request)

        recorder.record = counted  # type: ignore[method-assign]
        camera = CameraConfig(camera_id="cam-demo-01", source="bench", fps=args.fps, rules=args.rules)
        pipeline = CameraPipeline(
            camera, load_rules(args.rules), detector, recorder, LatencyWindow(), threading.Lock(),
            track_ids=TrackIdAllocator(outbox, camera.camera_id),
        )  # fmt: skip
        start, t0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC), time.perf_counter()
        for n in range(total):
            image = frames[n % len(frames)]
            pipeline.process(Frame(image, start + timedelta(seconds=n / args.fps), n / args.fps, n))
        written = [f for f in (data / "evidence").rglob("*") if f.is_file()]  # nothing is sent, so nothing deleted
        pictures, picture_bytes = len(written), sum(f.stat().st_size for f in written)
        outbox.close()
    hours = args.minutes / 60
    return {
        "bench": "evidence_bandwidth",
        "policy": policy,
        "simulated_minutes": args.minutes,
        "fps": args.fps,
        "frames": total,
        "events": dict(phases),
        "pictures": pictures,
        "picture_bytes": picture_bytes,
        "pictures_per_camera_hour": round(pictures / hours, 1),
        "mb_per_camera_hour": round(picture_bytes / hours / 1e6, 2),
        "updates_without_picture": recorder.pictures.skipped,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from edge_agent.detectors import DetectorOptions, create_detector
    from edge_agent.evidence.privacy import FaceBlurrer
    from edge_agent.models.manifest import ModelStore, load_manifest

    source = args.shared / args.source
    if not source.is_file():
        raise SystemExit(f"error: {source} not found (--shared, --source)")
    store = ModelStore(load_manifest(), args.shared / "models")
    spec, path = store.resolve(args.model)
    detector = create_detector(spec, path, DetectorOptions())
    blurrer = FaceBlurrer(store.resolve("yunet_face")[1])
    frames = frames_of(source, args.fps, int(args.minutes * 60 * args.fps))
    served = _SameFrameDetector(detector) if len(frames) == 1 else detector
    results = []
    for policy in [p.strip() for p in args.policies.split(",") if p.strip()]:
        result = run_policy(policy, args, frames, served, blurrer)
        results.append(result)
        print(json.dumps(result), flush=True)
    if len(results) >= 2 and results[-1]["picture_bytes"]:
        first, last = results[0], results[-1]
        print(
            json.dumps(
                {
                    "bench": "evidence_bandwidth",
                    "ratio": f"{first['policy']}/{last['policy']}",
                    "pictures": round(first["pictures"] / max(last["pictures"], 1), 2),
                    "bytes": round(first["picture_bytes"] / last["picture_bytes"], 2),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
