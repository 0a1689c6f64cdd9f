"""Perspective-rectify a 4-corner plate into an upright, text-height crop for OCR (pure numpy/OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np

OCR_HEIGHT = 48
"""PP-OCR's recogniser input height: a crop this tall is read without another resize."""


def order_corners(corners: np.ndarray) -> np.ndarray:
    """(4, 2) points in any order -> clockwise from top-left (TL, TR, BR, BL), in image coordinates (y down).

    LPD-YuNet already answers in this order, but a rotated plate or another detector may not; ordering by angle
    around the centroid is robust where the sum/difference trick fails on tilted plates.
    """
    points = np.asarray(corners, dtype=np.float32)
    if points.size != 8 or not np.isfinite(points).all():
        raise ValueError(f"a plate needs 4 finite (x, y) corners, got an array of shape {points.shape}")
    points = points.reshape(4, 2)
    centre = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    clockwise = points[np.argsort(angles)]  # y grows downwards, so increasing angle runs clockwise on screen
    start = int(np.argmin(clockwise.sum(axis=1)))  # top-left: smallest x + y
    return np.roll(clockwise, -start, axis=0)


def rectify_plate(
    image_bgr: np.ndarray, corners: np.ndarray, *, height: int = OCR_HEIGHT, margin: float = 0.06
) -> np.ndarray:
    """The plate warped to an upright `height`-pixel-tall crop with its own aspect ratio.

    `margin` grows the quadrilateral by that share of its size on every side: detector corners can sit on the
    characters' edge, and OCR misreads clipped first and last characters.
    """
    if height < 8:
        raise ValueError(f"height must be at least 8 pixels, got {height}")
    quad = order_corners(corners)
    top, right, bottom, left = (np.linalg.norm(quad[(i + 1) % 4] - quad[i]) for i in range(4))
    plate_w, plate_h = (top + bottom) / 2, (left + right) / 2
    if plate_w < 2 or plate_h < 2:
        raise ValueError(f"degenerate plate corners {quad.tolist()}")
    # Outward along the plate's own axes, so the margin follows its perspective.
    across = ((quad[1] - quad[0]) + (quad[2] - quad[3])) / 2
    down = ((quad[3] - quad[0]) + (quad[2] - quad[1])) / 2
    grow_x, grow_y = across * margin, down * margin
    grown = quad + np.array([-grow_x - grow_y, grow_x - grow_y, grow_x + grow_y, -grow_x + grow_y], np.float32)
    aspect = plate_w / plate_h
    out_w = int(np.clip(round(height * aspect), height, height * 12))
    target = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, height - 1], [0, height - 1]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(grown.astype(np.float32), target)
    # Downscaling a large plate with a plain linear warp aliases strokes; INTER_AREA is not offered by the warp.
    interpolation = cv2.INTER_LINEAR if plate_h >= height / 2 else cv2.INTER_CUBIC
    return cv2.warpPerspective(image_bgr, warp, (out_w, height), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
