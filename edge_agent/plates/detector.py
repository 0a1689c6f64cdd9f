"""LPD-YuNet licence-plate detector (OpenCV model zoo, 2023mar): 4 corners per plate, run with ONNX Runtime.

The network has a fixed 1x3x240x320 BGR 0-255 input. A whole 1280x720 frame squeezed into 320x240 leaves a plate
a few pixels tall, so callers pass a region of interest (a vehicle's box): it is scaled, aspect kept, into the
top-left of the input and the corners are mapped back to frame pixels. Priors and decoding follow the zoo's
`lpd_yunet.py`: 4 feature maps (strides 8/16/32/64) with min sizes [[10,16,24],[32,48],[64,96],[128,192,256]],
variance 0.1 on the corner offsets (loc columns 4:8 and 10:14), score = sqrt(cls * clip(iou, 0, 1)).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.detectors.session import open_session

INPUT_WH = (320, 240)
MIN_SIZES = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))
STEPS = (8, 16, 32, 64)
CORNER_VARIANCE = 0.1
# loc columns holding the (dx, dy) of the 4 corners; 0:4 are a box and 8:10 a centre point, both unused here.
CORNER_COLUMNS = (slice(4, 6), slice(6, 8), slice(10, 12), slice(12, 14))


@dataclass(frozen=True, slots=True)
class PlateDetection:
    corners: np.ndarray
    """(4, 2) float32 corner points in frame pixels, in the network's order."""
    score: float

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        x1, y1 = self.corners.min(axis=0)
        x2, y2 = self.corners.max(axis=0)
        return float(x1), float(y1), float(x2), float(y2)


def prior_boxes(input_wh: tuple[int, int] = INPUT_WH) -> np.ndarray:
    """(N, 4) priors `[cx, cy, w, h]` normalised to the input, in the network's output order (4385 for 320x240)."""
    w, h = input_wh
    # The zoo's feature-map arithmetic: two ceil-ish halvings to stride 4, then plain halvings.
    fh, fw = ((h + 1) // 2) // 2, ((w + 1) // 2) // 2
    priors = []
    for min_sizes, step in zip(MIN_SIZES, STEPS, strict=True):
        fh, fw = fh // 2, fw // 2
        ii, jj = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        cx = ((jj.reshape(-1) + 0.5) * step / w)[:, None]
        cy = ((ii.reshape(-1) + 0.5) * step / h)[:, None]
        sizes = np.asarray(min_sizes, dtype=np.float64)
        # Per cell, one prior per min size (row-major over cells, sizes innermost), as the zoo's nested loops.
        columns = np.broadcast_arrays(cx, cy, (sizes / w)[None, :], (sizes / h)[None, :])
        priors.append(np.stack(columns, axis=-1).reshape(-1, 4))
    return np.concatenate(priors).astype(np.float32)


def decode(
    loc: np.ndarray, conf: np.ndarray, iou: np.ndarray, priors: np.ndarray, input_wh: tuple[int, int] = INPUT_WH
) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs to `(corners (N, 4, 2) in input pixels, scores (N,))`."""
    if not (len(loc) == len(conf) == len(iou) == len(priors)):
        sizes = f"{len(loc)}/{len(conf)}/{len(iou)}"
        raise ValueError(f"LPD-YuNet outputs ({sizes} rows) disagree with the priors ({len(priors)})")
    scores = np.sqrt(conf[:, 1] * np.clip(iou[:, 0], 0.0, 1.0))
    scale = np.asarray(input_wh, dtype=np.float32)
    corners = np.stack(
        [(priors[:, 0:2] + loc[:, cols] * CORNER_VARIANCE * priors[:, 2:4]) * scale for cols in CORNER_COLUMNS],
        axis=1,
    )
    return corners.astype(np.float32), scores.astype(np.float32)


def select(
    corners: np.ndarray, scores: np.ndarray, score_threshold: float, nms_threshold: float, max_plates: int
) -> list[int]:
    """Indices kept after score threshold and NMS, best first.

    NMS runs on each candidate's axis-aligned hull of its corners (the zoo passes two corners as if they were
    x, y, w, h, which suppresses by the wrong overlap).
    """
    keep = np.nonzero(scores >= score_threshold)[0]
    if keep.size == 0:
        return []
    mins = corners[keep].min(axis=1)
    sizes = corners[keep].max(axis=1) - mins
    boxes = np.concatenate([mins, sizes], axis=1).tolist()
    chosen = cv2.dnn.NMSBoxes(boxes, scores[keep].tolist(), score_threshold, nms_threshold)
    chosen = sorted((int(keep[i]) for i in np.asarray(chosen).reshape(-1)), key=lambda i: -float(scores[i]))
    return chosen[:max_plates]


class PlateDetector:
    def __init__(
        self,
        model_path: Path,
        *,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_plates: int = 20,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 1,
    ) -> None:
        """`score_threshold` below the zoo's 0.8: a missed plate is worse for blurring than a false one (OCR confidence
        still guards the text that is read); the tests' synthetic 100 px wide plate scores 0.80-0.84."""
        if not 0.0 < score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in (0, 1], got {score_threshold}")
        self._session = open_session(model_path, providers, intra_op_threads)
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or list(inputs[0].shape[2:]) != [INPUT_WH[1], INPUT_WH[0]]:
            raise ValueError(f"{model_path.name} is not an LPD-YuNet 1x3x240x320 model (input {inputs[0].shape})")
        self._input_name = inputs[0].name
        self._priors = prior_boxes(INPUT_WH)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_plates = max_plates
        self._lock = threading.Lock()  # camera threads share one session; runs are short, so serialise them

    def detect(
        self, image_bgr: np.ndarray, roi_xyxy: tuple[float, float, float, float] | None = None
    ) -> list[PlateDetection]:
        """Plates inside `roi_xyxy` (frame pixels; None = the whole image), best first, corners in frame pixels."""
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 BGR image, got shape {image_bgr.shape}")
        height, width = image_bgr.shape[:2]
        x1, y1, x2, y2 = roi_xyxy if roi_xyxy is not None else (0, 0, width, height)
        x1, y1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        x2, y2 = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
        if x2 - x1 < 8 or y2 - y1 < 8:
            return []
        blob, scale = self._letterbox(image_bgr[y1:y2, x1:x2])
        with self._lock:
            loc, conf, iou = self._session.run(["loc", "conf", "iou"], {self._input_name: blob})
        corners, scores = decode(loc, conf, iou, self._priors)
        kept = select(corners, scores, self.score_threshold, self.nms_threshold, self.max_plates)
        offset = np.array([x1, y1], dtype=np.float32)
        return [PlateDetection(corners[i] / scale + offset, round(float(scores[i]), 4)) for i in kept]

    @staticmethod
    def _letterbox(region: np.ndarray) -> tuple[np.ndarray, float]:
        """Scale to fit 320x240 with the aspect kept, top-left aligned, black padding; NCHW float32 BGR 0-255."""
        h, w = region.shape[:2]
        scale = min(INPUT_WH[0] / w, INPUT_WH[1] / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((INPUT_WH[1], INPUT_WH[0], 3), dtype=np.uint8)
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[:nh, :nw] = cv2.resize(region, (nw, nh), interpolation=interpolation)
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        return blob, scale
