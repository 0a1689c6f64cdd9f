"""Face blurring with YuNet (cv2.FaceDetectorYN), applied before any picture is annotated, stored or sent."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np


class FaceBlurrer:
    def __init__(self, model_path: Path, score_threshold: float = 0.3, nms_threshold: float = 0.3) -> None:
        """A low score threshold on purpose: for privacy a blurred non-face is cheap, a missed face is not."""
        self._detector = cv2.FaceDetectorYN.create(
            str(model_path), "", (320, 320), score_threshold, nms_threshold, 5000
        )
        self._lock = threading.Lock()  # one OpenCV detector object is not safe to share between camera threads

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """(F, 4) face boxes `[x, y, w, h]` in pixels."""
        with self._lock:
            self._detector.setInputSize((image_bgr.shape[1], image_bgr.shape[0]))
            _, faces = self._detector.detect(image_bgr)
        if faces is None:
            return np.zeros((0, 4), dtype=np.float32)
        return faces[:, :4].astype(np.float32)

    def blur(self, image_bgr: np.ndarray) -> tuple[np.ndarray, int]:
        """A copy with every detected face made unrecognisable, and the number of faces."""
        out = image_bgr.copy()
        faces = self.detect(image_bgr)
        height, width = out.shape[:2]
        for x, y, w, h in faces:
            # Grow the box: YuNet boxes are tight, and hair, ears and chin identify people too.
            x1, y1 = int(max(0, x - 0.2 * w)), int(max(0, y - 0.25 * h))
            x2, y2 = int(min(width, x + 1.2 * w)), int(min(height, y + 1.15 * h))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            out[y1:y2, x1:x2] = pixelate(out[y1:y2, x1:x2])
        return out, len(faces)


def pixelate(region: np.ndarray, blocks: int = 3) -> np.ndarray:
    """A 3-block mosaic plus blur: irreversible, and coarse enough that a face detector no longer finds a face
    (6 blocks still left most faces detectable)."""
    h, w = region.shape[:2]
    small = cv2.resize(region, (blocks, max(1, blocks * h // max(w, 1))), interpolation=cv2.INTER_AREA)
    mosaic = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (min(w, h) // 4) | 1)
    return cv2.GaussianBlur(mosaic, (k, k), 0)
