"""SYNTHETIC after-hours kitchen floor: dim tiles, camera noise, and a small dark blob (a rodent) running across.

The rodent appears in two runs of frames along a wandering path; one frame has the lights switched on (a global
change every pixel takes part in), which must not be taken for an animal. Truth per frame: `rodent_box`
(x1, y1, x2, y2 pixels) or None, and `lights_on`.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from tests.edge_agent.scenes.common import SceneFrame, grain, sensor_noise, to_bgr

WIDTH, HEIGHT = 320, 240
FLOOR_POLYGON_NORM = [(0.0, 0.3), (1.0, 0.3), (1.0, 1.0), (0.0, 1.0)]
RUNS = ((20, 34), (55, 66))
LIGHTS_ON_FRAME = 44


def _floor(rng: np.random.Generator) -> np.ndarray:
    image = to_bgr(grain(rng, (HEIGHT, WIDTH), 120, 8, blur=1), (0.92, 1.0, 1.05))  # dim beige tiles
    for x in range(0, WIDTH, 40):
        cv2.line(image, (x, 0), (x, HEIGHT), (70, 75, 80), 2)
    for y in range(0, HEIGHT, 40):
        cv2.line(image, (0, y), (WIDTH, y), (70, 75, 80), 2)
    cv2.rectangle(image, (0, 0), (WIDTH, int(HEIGHT * 0.28)), (60, 62, 66), -1)  # counter front, outside the zone
    return image


def kitchen_floor_scene(seed: int = 0, n_frames: int = 80, dt_s: float = 0.5) -> Iterator[SceneFrame]:
    """SYNTHETIC frames, one every `dt_s` seconds (2 fps by default)."""
    rng = np.random.default_rng(seed)
    floor = _floor(rng)
    for i in range(n_frames):
        image = floor.copy()
        box = None
        for first, last in RUNS:
            if first <= i <= last:
                k = i - first
                x = 30 + k * 18 + rng.uniform(-2, 2)
                y = 120 + 40 * np.sin(k / 3.0 + first) + rng.uniform(-2, 2)
                cv2.ellipse(image, (int(x), int(y)), (9, 5), 0, 0, 360, (38, 40, 44), -1)
                cv2.line(image, (int(x) - 9, int(y)), (int(x) - 17, int(y) + 3), (45, 45, 50), 1)  # tail
                box = (x - 17, y - 5, x + 9, y + 5)
        lights_on = i == LIGHTS_ON_FRAME
        if lights_on:
            image = cv2.convertScaleAbs(image, alpha=1.6, beta=20)
        yield SceneFrame(sensor_noise(rng, image, 3.0), i * dt_s, {"rodent_box": box, "lights_on": lights_on})
