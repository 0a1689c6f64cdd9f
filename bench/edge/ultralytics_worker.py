"""The peer leg: Ultralytics `YOLO(onnx).track(source=video, stream=True)`, run inside the training venv.

Started once per bench run by pipeline_bench.py (torch and ultralytics never enter the main venv). It loads and
warms up, prints a `ready` line, then answers each `run SECONDS` line on stdin with one JSON line: the frames the
track loop yielded in that window. Between commands the generator is suspended, so it uses no CPU while the
other legs run. Standard library and ultralytics only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

MARK = "ultralytics_worker"


def reply(**fields: object) -> None:
    print(json.dumps({MARK: True, **fields}), flush=True)


def track_forever(model_path: str, video: str, imgsz: int):
    from ultralytics import YOLO

    model = YOLO(model_path, task="detect")
    while True:  # the clip is short: start it again, keeping the tracker (persist=True) like a looping camera
        yield from model.track(source=video, stream=True, persist=True, verbose=False, imgsz=imgsz)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Ultralytics-layout ONNX file")
    parser.add_argument("--video", required=True)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--warmup-frames", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks or downloads from a machine without internet
    try:
        results = track_forever(args.model, args.video, args.imgsz)
        for _ in range(args.warmup_frames):
            next(results)
        import ultralytics

        reply(ready=True, ultralytics=ultralytics.__version__)
    except Exception as exc:
        reply(ready=False, error=f"{type(exc).__name__}: {exc}")
        return 1
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        if command[0] != "run" or len(command) != 2:
            reply(error=f"unknown command {line.strip()!r}")
            continue
        seconds = float(command[1])
        frames, started = 0, time.perf_counter()
        while True:
            next(results)
            frames += 1
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
        reply(frames=frames, seconds=elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
