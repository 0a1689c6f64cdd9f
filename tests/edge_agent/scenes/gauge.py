"""SYNTHETIC water gauge scene: a painted cm gauge on a concrete wall, a waterline that rises then recedes.

The gauge board is `GAUGE_CM` cm tall at `PX_PER_CM` pixels per cm, 0 cm at its bottom edge. Below the waterline
the picture is murky, rippled water (its clarity varies per seed) in which the board shows faintly; a thin bright
glint marks the wavy surface, and a lamp lights the scene unevenly.
Truth per frame: `depth_cm` and `waterline_y` (pixel row).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from tests.edge_agent.scenes.common import SceneFrame, grain, sensor_noise, to_bgr

WIDTH, HEIGHT = 320, 240
GAUGE_X1, GAUGE_X2 = 136, 184
GAUGE_BOTTOM_Y = 230
PX_PER_CM = 4
GAUGE_CM = 50
GAUGE_TOP_Y = GAUGE_BOTTOM_Y - GAUGE_CM * PX_PER_CM


def gauge_polygon_norm() -> list[tuple[float, float]]:
    """The gauge board as a rule polygon (0..1 of the frame)."""
    x1, x2 = GAUGE_X1 / WIDTH, GAUGE_X2 / WIDTH
    y1, y2 = GAUGE_TOP_Y / HEIGHT, GAUGE_BOTTOM_Y / HEIGHT
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def draw_gauge_board(image: np.ndarray) -> None:
    """White board, black cm ticks (longer every 5 cm), red numbers every 10 cm."""
    cv2.rectangle(image, (GAUGE_X1, GAUGE_TOP_Y), (GAUGE_X2 - 1, GAUGE_BOTTOM_Y - 1), (232, 236, 238), -1)
    for cm in range(GAUGE_CM + 1):
        y = GAUGE_BOTTOM_Y - cm * PX_PER_CM
        length = 16 if cm % 10 == 0 else 11 if cm % 5 == 0 else 6
        cv2.line(image, (GAUGE_X1, y), (GAUGE_X1 + length, y), (20, 20, 20), 1)
        if cm % 10 == 0 and 0 < cm < GAUGE_CM:
            cv2.putText(image, str(cm), (GAUGE_X1 + 19, y + 4), cv2.FONT_HERSHEY_PLAIN, 0.8, (30, 30, 200), 1)


def depth_profile(n_frames: int, peak_cm: float, dry_frames: int) -> np.ndarray:
    """Depth per frame: `dry_frames` dry, a rise to `peak_cm`, a recession to 0, `dry_frames` dry again."""
    depth = np.zeros(n_frames)
    wet = n_frames - 2 * dry_frames
    rise = int(wet * 0.55)
    depth[dry_frames : dry_frames + rise] = np.linspace(0, peak_cm, rise)
    depth[dry_frames + rise : dry_frames + wet] = np.linspace(peak_cm, 0, wet - rise)
    return depth


def gauge_scene(seed: int = 0, n_frames: int = 60, dt_s: float = 10.0, peak_cm: float = 42.0) -> Iterator[SceneFrame]:
    """SYNTHETIC frames of a flooding underpass gauge, one every `dt_s` seconds (dry first and last)."""
    rng = np.random.default_rng(seed)
    wall = to_bgr(grain(rng, (HEIGHT, WIDTH), 150, 18, blur=2), (0.95, 1.0, 1.02))
    draw_gauge_board(wall)
    # Uneven light across the scene (a street lamp on the left), and water whose clarity varies per scene.
    light = np.linspace(1.08, 0.85, WIDTH, dtype=np.float32)[None, :, None]
    wall = np.clip(wall * light, 0, 255).astype(np.uint8)
    clarity = float(rng.uniform(0.15, 0.4))  # how much of the submerged board shows through
    water_tint = np.array([88, 100, 112], np.float32) * rng.uniform(0.85, 1.15)  # murky brownish grey (BGR)
    xs = np.arange(WIDTH, dtype=np.float32)
    ys = np.arange(HEIGHT, dtype=np.float32)[:, None]
    for i, depth in enumerate(depth_profile(n_frames, peak_cm, dry_frames=max(3, n_frames // 10))):
        image = wall.astype(np.float32)
        line = round(GAUGE_BOTTOM_Y - depth * PX_PER_CM) if depth > 0.5 else HEIGHT
        if line < HEIGHT:
            # Small waves: the surface row varies by about a pixel across the width.
            surface = line + 1.2 * np.sin(xs / 11.0 + i * 2.3)
            under = ys >= surface[None, :]
            ripple = 6 * np.sin(xs[None, :] / 9.0 + i * 1.7 + ys / 3.0)
            water = water_tint[None, None, :] + ripple[..., None]
            blend = (1 - clarity) * water + clarity * image
            image = np.where(under[..., None], blend, image)
            glint = under & (ys < surface[None, :] + 2)
            image[glint] = np.minimum(image[glint] + 45, 255)  # the bright surface line
        frame = sensor_noise(rng, image.astype(np.uint8), 2.5)
        truth = {"depth_cm": float(depth) if line < HEIGHT else 0.0, "waterline_y": line if line < HEIGHT else None}
        yield SceneFrame(frame, i * dt_s, truth)
