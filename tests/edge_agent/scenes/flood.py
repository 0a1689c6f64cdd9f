"""SYNTHETIC flooding road: textured asphalt with lane marks; a pool of water grows from a low point and recedes.

Water is smooth (no asphalt grain), reflects a bluish-grey sky (a vertical brightness gradient) and ripples a
little. Some dry frames carry a passing cloud shadow (darker, grain kept), which must not count as water.
Truth per frame: `coverage` (fraction of the road zone under water) and `water_mask` (H, W bool).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from tests.edge_agent.scenes.common import SceneFrame, grain, sensor_noise, to_bgr

WIDTH, HEIGHT = 320, 240
ROAD_POLYGON_NORM = [(0.05, 0.35), (0.95, 0.35), (0.95, 0.98), (0.05, 0.98)]


def road_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    pts = np.round(np.asarray(ROAD_POLYGON_NORM) * [WIDTH, HEIGHT]).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def _asphalt(rng: np.random.Generator) -> np.ndarray:
    image = to_bgr(grain(rng, (HEIGHT, WIDTH), 95, 30), (1.0, 1.0, 1.03))
    sky = to_bgr(grain(rng, (int(HEIGHT * 0.35), WIDTH), 200, 6, blur=3), (1.08, 1.0, 0.92))
    image[: sky.shape[0]] = sky
    for x in range(20, WIDTH, 60):  # dashed centre line
        cv2.rectangle(image, (x, 150), (x + 30, 155), (215, 215, 215), -1)
    return image


def flood_scene(seed: int = 0, n_frames: int = 40, dt_s: float = 15.0, peak_radius: float = 150.0):
    """SYNTHETIC frames (one every `dt_s` s): 8 dry (3 with a cloud shadow), a growing pool, then receding."""
    return _frames(np.random.default_rng(seed), n_frames, dt_s, peak_radius)


def _frames(rng: np.random.Generator, n_frames: int, dt_s: float, peak_radius: float) -> Iterator[SceneFrame]:
    dry = _asphalt(rng)
    road = road_mask()
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    sky_reflection = np.stack([175 - 0.15 * yy, 165 - 0.15 * yy, 150 - 0.15 * yy], axis=2)  # bluish grey (BGR)
    wet = n_frames - 8
    radius = np.concatenate(
        [np.zeros(8), np.linspace(10, peak_radius, wet // 2), np.linspace(peak_radius, 0, wet - wet // 2)]
    )
    cx, cy = 150 + rng.uniform(-10, 10), 185 + rng.uniform(-5, 5)
    for i in range(n_frames):
        image = dry.astype(np.float32)
        if i in (5, 6, 7):  # a cloud shadow over the left of the road: darker, grain kept
            image[80:, : WIDTH // 2] *= 0.55
        water = (((xx - cx) / 1.6) ** 2 + (yy - cy) ** 2 <= radius[i] ** 2 * 0.35) & road
        ripple = 3 * np.sin(xx / 7.0 + i)[..., None]
        image[water] = (sky_reflection + ripple)[water]
        frame = sensor_noise(rng, image.astype(np.uint8), 2.0)
        yield SceneFrame(frame, i * dt_s, {"coverage": float(water[road].mean()), "water_mask": water})
