"""One-shot detection on a file, for `cityops edge detect` (a quick check that a model and a camera image agree)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2

from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.models.manifest import ModelStore, load_manifest

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "models"


def read_first_frame(path: Path):
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is not None:
        return image
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        raise ValueError(f"{path}: neither a readable image nor a readable video")
    return frame


def detect_file(source: Path, model: str, models_dir: Path | None, threshold: float) -> dict[str, Any]:
    frame = read_first_frame(source)
    store = ModelStore(load_manifest(), (models_dir or DEFAULT_MODELS_DIR).resolve())
    spec, path = store.resolve(model)
    detector = create_detector(spec, path, DetectorOptions(score_threshold=threshold))
    detector.warm_up(1)
    started = time.perf_counter()
    detections = detector.detect(frame)
    total_ms = (time.perf_counter() - started) * 1000
    return {
        "source": str(source),
        "model": spec.name,
        "providers": detector.providers,
        "width": frame.shape[1],
        "height": frame.shape[0],
        "inference_ms": round(detector.last_inference_ms, 2),
        "total_ms": round(total_ms, 2),
        "detections": [
            {"class": name, "score": round(float(score), 3), "box": [round(float(v), 1) for v in box]}
            for name, score, box in zip(detections.names(), detections.confidence, detections.xyxy, strict=True)
        ],
    }


def format_text(result: dict[str, Any]) -> str:
    lines = [
        f"{result['source']} ({result['width']}x{result['height']}) model {result['model']} on "
        f"{', '.join(result['providers'])}: {len(result['detections'])} detections, "
        f"inference {result['inference_ms']} ms"
    ]
    for det in result["detections"]:
        x1, y1, x2, y2 = det["box"]
        lines.append(f"  {det['class']:<14} {det['score']:.2f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]")
    return "\n".join(lines)
