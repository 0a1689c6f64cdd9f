"""Which objects belong to which person: head and hands regions of person boxes, and a white-hat heuristic.

Pure numpy over (N, 4) pixel boxes. A person box's head region is its top `head_frac` (a hat sits on or just above
it, so the region reaches a little higher and wider); the hands/head region is the top `reach_frac`, where a phone
or a cigarette is held while in use (a phone in a trouser pocket is lower and does not count).
"""

from __future__ import annotations

import cv2
import numpy as np

HEAD_FRAC = 0.2
REACH_FRAC = 0.7


def head_regions(persons_xyxy: np.ndarray, head_frac: float = HEAD_FRAC) -> np.ndarray:
    """(N, 4) head boxes: top `head_frac` of each person, widened 10 % each side and raised 10 % of the height."""
    x1, y1, x2, y2 = persons_xyxy.T
    w, h = x2 - x1, y2 - y1
    return np.stack([x1 - 0.1 * w, y1 - 0.1 * h, x2 + 0.1 * w, y1 + head_frac * h], axis=1)


def reach_regions(persons_xyxy: np.ndarray, reach_frac: float = REACH_FRAC) -> np.ndarray:
    """(N, 4) hands-and-head boxes: the top `reach_frac` of each person, widened 15 % each side."""
    x1, y1, x2, y2 = persons_xyxy.T
    w, h = x2 - x1, y2 - y1
    return np.stack([x1 - 0.15 * w, y1 - 0.05 * h, x2 + 0.15 * w, y1 + reach_frac * h], axis=1)


def centres_in_regions(regions_xyxy: np.ndarray, objects_xyxy: np.ndarray) -> np.ndarray:
    """(N,) bool: region n contains the centre of at least one object."""
    if len(regions_xyxy) == 0 or len(objects_xyxy) == 0:
        return np.zeros(len(regions_xyxy), dtype=bool)
    cx = (objects_xyxy[:, 0] + objects_xyxy[:, 2]) / 2
    cy = (objects_xyxy[:, 1] + objects_xyxy[:, 3]) / 2
    r = regions_xyxy[:, None, :]
    inside = (cx >= r[..., 0]) & (cx <= r[..., 2]) & (cy >= r[..., 1]) & (cy <= r[..., 3])
    return inside.any(axis=1)


def white_hat_score(image_bgr: np.ndarray, person_xyxy: np.ndarray, top_frac: float = 0.12) -> float:
    """Fraction of near-white pixels (bright, unsaturated) in the top `top_frac` of a person box, 0..1.

    A HEURISTIC fallback for cameras without a hat-detection model: chef hats are white; hair and bare heads are
    not. It fails against a white background or in strong backlight, so events it decides are flagged as such.
    """
    h_img, w_img = image_bgr.shape[:2]
    x1, y1, x2, y2 = person_xyxy
    w, h = x2 - x1, y2 - y1
    # The middle 60 % of the width: the head, not the background beside it.
    cx1, cx2 = int(max(x1 + 0.2 * w, 0)), int(min(x2 - 0.2 * w, w_img))
    cy1, cy2 = int(max(y1, 0)), int(min(y1 + top_frac * h, h_img))
    if cx2 <= cx1 or cy2 <= cy1:
        return 0.0
    hsv = cv2.cvtColor(image_bgr[cy1:cy2, cx1:cx2], cv2.COLOR_BGR2HSV)
    white = (hsv[..., 1] < 40) & (hsv[..., 2] > 190)
    return float(white.mean())
