"""Edge pipeline benchmark: bare model, whole pipeline (1/4/8 cameras) and the Ultralytics peer, in one run.

The bare model runs one frame a session run (`detector`), and N cameras' frames at a time the way the agent's
batcher runs them (`detector_Ncam`: its inference threads concurrently, N frames among them, as batches for a model
that can batch and one frame a run otherwise): the ceilings of a pipeline on one camera and on N.

Every leg runs for the same fixed window once per round, and each round starts at a different leg (rotation),
so a machine drifting between fast and slow states hits all legs alike; the summary gives medians and ratios,
also as the median of same-round ratios. One JSON line per measurement on stdout, then one summary line.

    .venv/bin/python -m bench.edge.pipeline_bench --rounds 3 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHARED = REPO.parent / "shared"
PEER_MODEL = "yolov8n_int8"  # the Ultralytics-layout model: the peer can run only this one
log = logging.getLogger("bench.edge")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.edge.pipeline_bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder with models/ and media/")
    p.add_argument("--source", default="media/mmdet_demo.mp4", help="video or picture, relative to --shared")
    p.add_argument("--models", default=f"yolox_nano,{PEER_MODEL}", help="manifest model names, comma-separated")
    p.add_argument("--cameras", default="1,4,8", help="camera counts for the whole-pipeline legs")
    p.add_argument("--rounds", type=int, default=3, help="repetitions of every leg (medians over these)")
    p.add_argument("--seconds", type=float, default=5.0, help="measuring window of one leg in one round")
    p.add_argument("--max-seconds", type=float, default=900.0, help="stop starting new rounds after this long")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
    p.add_argument("--dwell-s", type=float, default=2.0, help="parking dwell before a start event (with evidence)")
    p.add_argument("--update-every-s", type=float, default=30.0, help="least seconds between a stay's update events")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also run pipeline_Ncam_inline legs: integrity on every frame, evidence on the camera thread (before)",
    )
    p.add_argument("--no-peer", action="store_true", help="skip the Ultralytics leg (needs no training venv)")
    p.add_argument(
        "--peer-python", type=Path, default=REPO / ".venv-training" / "bin" / "python", help="training venv python"
    )
    return p


def _csv(text: str, kind: Callable[[str], object] = str) -> list:
    items = [kind(x.strip()) for x in text.split(",") if x.strip()]
    if not items:
        raise SystemExit(f"error: empty list {text!r}")
    return items


def machine_info() -> dict:
    import cv2
    import numpy
    import onnxruntime as ort

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "ort_providers_available": ort.get_available_providers(),
        "opencv": cv2.__version__,
        "numpy": numpy.__version__,
    }


def build_legs(args: argparse.Namespace, models: list[str], cameras: list[int], source: Path, peer) -> list:
    """(variant name, model, fn(seconds) -> dict with frames and seconds) for every leg."""
    from bench.edge.model_legs import decode_frames, make_blob, run_detector, run_detector_batch, run_raw_session
    from bench.edge.pipeline_leg import run_pipeline
    from edge_agent.config import InferenceConfig
    from edge_agent.detectors import DetectorOptions, create_detector
    from edge_agent.detectors.batcher import batch_model
    from edge_agent.evidence.privacy import FaceBlurrer
    from edge_agent.models.manifest import ModelStore, load_manifest

    store = ModelStore(load_manifest(), args.shared / "models")
    _, face_path = store.resolve("yunet_face")
    blurrer = FaceBlurrer(face_path)
    frames = decode_frames(source, limit=32)
    legs = []
    for name in models:
        spec, path = store.resolve(name)
        detector = create_detector(spec, path, DetectorOptions(intra_op_threads=args.threads))
        detector.warm_up()
        blob = make_blob(detector, frames[0])

        def raw(s: float, d=detector, b=blob) -> dict:
            n, t = run_raw_session(d, b, s)
            return {"frames": n, "seconds": t}

        def det(s: float, d=detector) -> dict:
            n, t = run_detector(d, frames, s)
            return {"frames": n, "seconds": t}

        legs += [(f"{name}/ort_session", name, raw), (f"{name}/detector", name, det)]
        config = InferenceConfig()  # the agent's default
        for count in [c for c in cameras if config.batch_for(c) > 1]:
            # N cameras' frames at a time, as the agent's batcher can run them: its inference threads concurrently
            # (each with its session threads), N frames shared among them (a camera has one frame in flight); one
            # frame a run for a model that cannot batch.
            workers = config.workers_for(config.batch_for(count))
            served, max_batch = batch_model(detector, config.batch_for(count), workers)
            per_run = -(-count // workers) if max_batch > 1 else 1
            run_detector_batch(served, frames, per_run, 0.0)  # one step: the first run at a batch size allocates

            def det_cams(s: float, d=served, b=per_run, w=workers) -> dict:
                n, t = run_detector_batch(d, frames, b, s, workers=w)
                return {"frames": n, "seconds": t, "batch": b, "workers": w}

            legs.append((f"{name}/detector_{count}cam", name, det_cams))
        for count, inline in [(c, i) for c in cameras for i in ([False, True] if args.baseline else [False])]:

            def pipe(s: float, d=detector, c=count, i=inline) -> dict:
                r = run_pipeline(
                    d, blurrer, str(source), c, s, dwell_s=args.dwell_s, update_every_s=args.update_every_s, inline=i
                )
                return {
                    "frames": r.frames,
                    "seconds": r.seconds,
                    "cameras": r.cameras,
                    "events": r.events,
                    "evidence_uploads": r.evidence_uploads,
                    "batch_sizes": r.batch_sizes,
                }

            legs.append((f"{name}/pipeline_{count}cam{'_inline' if inline else ''}", name, pipe))
        if peer is not None and name == PEER_MODEL:

            def ultra(s: float) -> dict:
                n, t = peer.run(s)
                return {"frames": n, "seconds": t}

            legs.append((f"{name}/ultralytics_track", name, ultra))
    return legs


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    models, cameras = _csv(args.models), _csv(args.cameras, int)
    if args.rounds < 1 or args.seconds <= 0 or any(c < 1 for c in cameras):
        raise SystemExit("error: --rounds and --cameras need values >= 1, --seconds a positive value")
    source = args.shared / args.source
    if not source.is_file():
        raise SystemExit(f"error: {source}: no such file (is --shared {args.shared} the shared folder?)")
    started = time.perf_counter()
    peer = None
    if not args.no_peer and PEER_MODEL in models:
        from bench.edge.peer import UltralyticsPeer

        peer = UltralyticsPeer(args.peer_python, args.shared / "models" / "yolov8n_int8_AGPL.onnx", source)
    try:
        legs = build_legs(args, models, cameras, source, peer)
        if peer is not None:
            peer.wait_ready(timeout_s=300.0)
        measurements: list[dict] = []
        rounds_done = 0
        for rnd in range(args.rounds):
            # A round must fit the budget whole, so every leg keeps the same number of rounds.
            if rnd and time.perf_counter() - started + (time.perf_counter() - started) / rnd > args.max_seconds:
                log.warning("stopping after %d round(s): --max-seconds %.0f reached", rnd, args.max_seconds)
                break
            shift = rnd % len(legs)
            for variant, model, fn in legs[shift:] + legs[:shift]:
                result = fn(args.seconds)
                record = {"type": "measurement", "round": rnd + 1, "variant": variant, "model": model, **result}
                record["fps"] = round(result["frames"] / result["seconds"], 2)
                record["seconds"] = round(result["seconds"], 3)
                measurements.append(record)
                emit(record)
            rounds_done += 1
    finally:
        if peer is not None:
            peer.close()
    from bench.edge.summary import medians, ratios

    emit(
        {
            "type": "summary",
            "rounds": rounds_done,
            "window_s": args.seconds,
            "source": str(source),
            "models": models,
            "cameras": cameras,
            "ultralytics": peer.version if peer is not None else None,
            "machine": machine_info(),
            "wall_s": round(time.perf_counter() - started, 1),
            "variants": medians(measurements),
            "ratios": ratios(measurements, models, cameras, peer is not None),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
