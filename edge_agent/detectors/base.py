"""The detector interface and the shared ONNX pipeline: letterbox -> run -> decode -> unletterbox -> NMS."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from edge_agent.detections import Detections
from edge_agent.detectors.preprocess import Letterbox, letterbox, to_blob
from edge_agent.detectors.session import TensorrtSettings, open_session
from edge_agent.models.manifest import ModelSpec


@dataclass(frozen=True, slots=True)
class DetectorOptions:
    score_threshold: float = 0.25
    nms_iou: float = 0.45
    providers: tuple[str, ...] | None = None
    intra_op_threads: int = 0
    max_detections: int = 300
    tensorrt_cache: Path | None = None
    """Folder of TensorRT engine caches (the agent's `<data_dir>/tensorrt-cache`); None: engines are not cached."""
    tensorrt_fp16: bool = True
    tensorrt_device: str | None = None
    """GPU key of the cache folder; None: detected when TensorRT is used."""


class Detector(ABC):
    """Turns one BGR frame into detections in that frame's pixel coordinates."""

    spec: ModelSpec
    # True: `detect` may be called from several threads at once because the detector schedules its inferences
    # itself (batching across cameras); callers then hold no lock across it. False: one call at a time.
    thread_safe: ClassVar[bool] = False

    @abstractmethod
    def detect(self, frame_bgr: np.ndarray) -> Detections: ...


@dataclass(frozen=True, slots=True)
class Candidates:
    """Decoded boxes before NMS, in network-input pixels: xyxy (M, 4), score (M,), class_id (M,)."""

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray


@dataclass(frozen=True, slots=True)
class Prepared:
    """A frame made ready for the network: blob (1, 3, H, W) float32, and how to map boxes back to the frame."""

    blob: np.ndarray
    box: Letterbox
    width: int
    height: int


class OnnxDetector(Detector):
    """ONNX Runtime detector; a plugin supplies only `decode` for its output layout."""

    def __init__(self, spec: ModelSpec, path: Path, options: DetectorOptions) -> None:
        if spec.input.size is None:
            raise ValueError(f"model {spec.name!r}: a detector needs a fixed input size in the manifest")
        self.spec = spec
        self.path = path
        self.options = options
        self.session = open_session(
            path, options.providers, options.intra_op_threads, tensorrt=self.tensorrt_settings()
        )
        self.input_name = spec.input.name or self.session.get_inputs()[0].name
        self.input_wh: tuple[int, int] = spec.input.size
        self.last_inference_ms = 0.0

    def tensorrt_settings(self) -> TensorrtSettings | None:
        """Engine caching for this model's sessions (keyed by its sha256), if the options ask for a cache."""
        options = self.options
        if options.tensorrt_cache is None:
            return None
        return TensorrtSettings(
            options.tensorrt_cache, self.spec.sha256, options.tensorrt_device, options.tensorrt_fp16
        )

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @abstractmethod
    def decode(self, outputs: list[np.ndarray]) -> Candidates:
        """Raw network outputs -> candidates scoring at least `options.score_threshold`."""

    def warm_up(self, runs: int = 2) -> None:
        """First runs allocate memory and (with TensorRT) build engines; pay that before the first real frame."""
        frame = np.full((self.input_wh[1], self.input_wh[0], 3), 114, dtype=np.uint8)
        for _ in range(runs):
            self.detect(frame)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        prepared = self.prepare(frame_bgr)
        return self.finish(self.run(prepared.blob), prepared)

    def prepare(self, frame_bgr: np.ndarray) -> Prepared:
        """Letterbox and blob: the part before the network (thread-safe)."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 BGR frame, got shape {frame_bgr.shape}")
        spec_in = self.spec.input
        canvas, box = letterbox(frame_bgr, self.input_wh, spec_in.letterbox, spec_in.pad_value)
        blob = to_blob(canvas, spec_in.channel_order, spec_in.mean, spec_in.std)
        return Prepared(blob, box, frame_bgr.shape[1], frame_bgr.shape[0])

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """One session run on an (N, 3, H, W) blob; sets `last_inference_ms` to its duration."""
        started = time.perf_counter()
        outputs = self.session.run(None, {self.input_name: blob})
        self.last_inference_ms = (time.perf_counter() - started) * 1000
        return outputs

    def finish(self, outputs: list[np.ndarray], prepared: Prepared) -> Detections:
        """One frame's outputs (batch dimension 1) -> detections in its pixels: decode, unletterbox, NMS
        (thread-safe)."""
        return self._finish(self.decode(outputs), prepared.box, prepared.width, prepared.height)

    def _finish(self, cand: Candidates, box: Letterbox, width: int, height: int) -> Detections:
        names = self.spec.classes
        if len(cand.score) == 0:
            return Detections.empty(names)
        xyxy = box.to_source(cand.xyxy)
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        keep = cv2.dnn.NMSBoxesBatched(
            xywh.astype(np.float32),
            cand.score.astype(np.float32),
            cand.class_id.astype(np.int32),
            self.options.score_threshold,
            self.options.nms_iou,
        )
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        keep = keep[np.argsort(-cand.score[keep], kind="stable")][: self.options.max_detections]
        return Detections.from_arrays(xyxy[keep], cand.score[keep], cand.class_id[keep], names)


def best_class(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's best class for (M, C) scores: (rows kept, their score, their class id), score >= threshold."""
    class_id = scores.argmax(axis=1)
    score = scores[np.arange(len(scores)), class_id]
    rows = np.nonzero(score >= threshold)[0]
    return rows, score[rows], class_id[rows]
