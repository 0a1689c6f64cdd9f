"""SYNTHETIC scene building blocks: the frame type and seeded textures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class SceneFrame:
    """One SYNTHETIC frame: BGR pixels, its time in seconds from the scene start, and the ground truth."""

    image: np.ndarray
    t: float
    truth: dict[str, Any] = field(default_factory=dict)


def grain(rng: np.random.Generator, hw: tuple[int, int], base: float, amplitude: float, blur: int = 0) -> np.ndarray:
    """A grey (H, W) float32 texture: base level plus (optionally blurred) uniform noise."""
    noise = rng.uniform(-amplitude, amplitude, hw).astype(np.float32)
    if blur:
        noise = cv2.GaussianBlur(noise, (0, 0), blur) * 2.5
    return base + noise


def to_bgr(gray: np.ndarray, tint: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """(H, W) float grey -> (H, W, 3) uint8 BGR, each channel scaled by `tint`."""
    return np.clip(np.stack([gray * t for t in tint], axis=2), 0, 255).astype(np.uint8)


def sensor_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Per-frame camera noise, so consecutive frames are never pixel-identical."""
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)
