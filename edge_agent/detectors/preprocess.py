"""Letterbox a frame into the network's input and map boxes back; build the NCHW float blob."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a source frame was placed into the network input: scale, then offset in input pixels."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float

    def to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """(M, 4) boxes in network-input pixels -> source-frame pixels (a new float32 array)."""
        out = np.asarray(xyxy, dtype=np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale_x
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale_y
        return out


def letterbox(
    frame: np.ndarray,
    input_wh: tuple[int, int],
    mode: Literal["top_left", "center", "none"],
    pad_value: int,
) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and pad to `input_wh` (mode `none` stretches instead)."""
    in_w, in_h = input_wh
    h, w = frame.shape[:2]
    if mode == "none":
        resized = cv2.resize(frame, (in_w, in_h), interpolation=cv2.INTER_LINEAR)
        return resized, Letterbox(in_w / w, in_h / h, 0.0, 0.0)
    ratio = min(in_w / w, in_h / h)
    new_w, new_h = int(w * ratio), int(h * ratio)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((in_h, in_w, 3), pad_value, dtype=np.uint8)
    pad_x, pad_y = (0, 0) if mode == "top_left" else ((in_w - new_w) // 2, (in_h - new_h) // 2)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, Letterbox(ratio, ratio, float(pad_x), float(pad_y))


def to_blob(
    image_bgr: np.ndarray,
    channel_order: Literal["bgr", "rgb"],
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> np.ndarray:
    """HxWx3 uint8 BGR -> 1x3xHxW float32, `(pixel - mean) / std` per channel in `channel_order`."""
    if len(set(mean)) == 1 and len(set(std)) == 1:
        # One fused OpenCV pass (swap, convert, scale, NCHW); the numpy path costs 4 ms a 640x640 frame on 2 cores.
        return cv2.dnn.blobFromImage(
            image_bgr, 1.0 / std[0], mean=(mean[0],) * 3, swapRB=channel_order == "rgb", crop=False
        )
    image = image_bgr[:, :, ::-1] if channel_order == "rgb" else image_bgr
    blob = image.astype(np.float32)
    if any(mean):
        blob -= np.asarray(mean, dtype=np.float32)
    if any(s != 1 for s in std):
        blob *= 1.0 / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None])
