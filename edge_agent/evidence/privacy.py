"""Face blurring with YuNet (edge_agent/evidence/yunet.py), applied before any picture is annotated, stored or
sent; and the pixel side of plate blurring (`blur_quads`: the plates themselves are found by edge_agent/plates/)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge_agent.evidence.yunet import YuNetFaces


class FaceBlurrer:
    def __init__(
        self,
        model_path: Path,
        score_threshold: float = 0.3,
        nms_threshold: float = 0.3,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 1,
    ) -> None:
        """A low score threshold on purpose: for privacy a blurred non-face is cheap, a missed face is not."""
        self._faces = YuNetFaces(
            model_path, score_threshold, nms_threshold, providers=providers, intra_op_threads=intra_op_threads
        )
        # The last frame blurred and its faces: several events decided on one frame (cars crossing their dwell
        # threshold together, a no-parking window opening) are pictures of that same frame object, which the
        # pipeline never writes to. One tuple, replaced whole, so concurrent callers at worst detect again.
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """(F, 4) face boxes `[x, y, w, h]` in pixels."""
        return self._faces.detect(image_bgr)

    def faces_of(self, frame: np.ndarray) -> np.ndarray:
        """`detect`, run once per frame object: a repeat call with the very same (unmodified) array reuses it."""
        last = self._last
        if last is not None and last[0] is frame:
            return last[1]
        faces = self.detect(frame)
        self._last = (frame, faces)
        return faces

    def blur(self, image_bgr: np.ndarray) -> tuple[np.ndarray, int]:
        """A copy with every detected face made unrecognisable, and the number of faces. `image_bgr` must not be
        written to after a call: a later call with the same array object reuses its faces (`faces_of`)."""
        out = image_bgr.copy()
        faces = self.faces_of(image_bgr)
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


def blur_quads(image_bgr: np.ndarray, quads: list[np.ndarray], grow: float = 0.15) -> np.ndarray:
    """A copy with each quadrilateral (4x2 pixel corners, e.g. a licence plate) made unreadable.

    Each quad is grown by `grow` of its size about its centre, since detected corners can cut through the edge
    characters; only the grown quad is mosaicked (not its whole bounding box), so the car around it stays visible.
    """
    out = image_bgr.copy()
    height, width = out.shape[:2]
    for quad in quads:
        points = np.asarray(quad, dtype=np.float32)
        if points.size != 8 or not np.isfinite(points).all():
            raise ValueError(f"a quad needs 4 finite (x, y) corners, got an array of shape {points.shape}")
        points = points.reshape(4, 2)
        centre = points.mean(axis=0)
        grown = centre + (points - centre) * (1.0 + grow)
        x1, y1 = np.floor(grown.min(axis=0)).astype(int)
        x2, y2 = np.ceil(grown.max(axis=0)).astype(int)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        mask = np.zeros((y2 - y1, x2 - x1), dtype=np.uint8)
        cv2.fillConvexPoly(mask, np.round(grown - [x1, y1]).astype(np.int32), 255)
        # Blocks across the plate's width, not the face's 3: a plate is ~3x wider than tall, so 6 blocks keep the
        # blocks roughly square while still averaging several characters into each.
        mosaic = pixelate(out[y1:y2, x1:x2], blocks=6)
        region = out[y1:y2, x1:x2]
        region[mask > 0] = mosaic[mask > 0]
    return out
