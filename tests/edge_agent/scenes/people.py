"""SYNTHETIC kitchen staff: people-like figures (body, skin-tone head) with or without a white hat-like top.

Figures stand on a tiled kitchen wall background (not white, so a white hat stands out). Truth per figure: its
box (x1, y1, x2, y2 pixels, hat included) and `has_hat`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tests.edge_agent.scenes.common import SceneFrame, grain, sensor_noise, to_bgr

WIDTH, HEIGHT = 480, 270


@dataclass(frozen=True, slots=True)
class Figure:
    x: float
    """Centre of the figure."""
    feet_y: float
    height: float
    has_hat: bool
    shirt_bgr: tuple[int, int, int]

    def box(self) -> tuple[float, float, float, float]:
        w = self.height * 0.32
        return (self.x - w / 2, self.feet_y - self.height, self.x + w / 2, self.feet_y)


def draw_figure(image: np.ndarray, f: Figure) -> None:
    x1, y1, x2, y2 = f.box()
    h, cx = f.height, f.x
    hat_h = 0.13 * h if f.has_hat else 0.0
    head_r = 0.075 * h
    head_cy = y1 + hat_h + head_r
    if f.has_hat:  # a white chef-hat-like cylinder with a puffed top
        cv2.rectangle(
            image,
            (int(cx - head_r), int(y1 + 0.3 * hat_h)),
            (int(cx + head_r), int(y1 + hat_h + 2)),
            (245, 245, 245),
            -1,
        )
        cv2.ellipse(
            image,
            (int(cx), int(y1 + 0.35 * hat_h)),
            (int(head_r * 1.2), int(0.35 * hat_h) + 1),
            0,
            0,
            360,
            (245, 245, 245),
            -1,
        )
    else:  # dark hair on top of the head
        cv2.ellipse(
            image,
            (int(cx), int(head_cy - 0.3 * head_r)),
            (int(head_r), int(head_r * 0.8)),
            0,
            180,
            360,
            (30, 35, 45),
            -1,
        )
    cv2.circle(image, (int(cx), int(head_cy)), int(head_r), (120, 160, 205), -1)  # skin tone (BGR)
    body_top = head_cy + head_r
    cv2.rectangle(image, (int(x1), int(body_top)), (int(x2), int(y1 + 0.62 * h)), f.shirt_bgr, -1)
    leg_w = (x2 - x1) * 0.35
    for lx in (x1 + 0.1 * (x2 - x1), x2 - 0.1 * (x2 - x1) - leg_w):
        cv2.rectangle(image, (int(lx), int(y1 + 0.62 * h)), (int(lx + leg_w), int(y2)), (60, 50, 40), -1)


def random_figures(rng: np.random.Generator, count: int) -> list[Figure]:
    """`count` figures spread across the frame (no overlaps), each with a hat with probability 1/2."""
    slots = rng.permutation(np.linspace(50, WIDTH - 50, 6))[:count]
    return [
        Figure(
            x=float(x),
            feet_y=float(rng.uniform(230, 262)),
            height=float(rng.uniform(150, 200)),
            has_hat=bool(rng.random() < 0.5),
            shirt_bgr=tuple(int(v) for v in rng.integers(40, 200, 3)),
        )
        for x in slots
    ]


def background(rng: np.random.Generator) -> np.ndarray:
    wall = to_bgr(grain(rng, (HEIGHT, WIDTH), 150, 10, blur=1), (1.0, 1.05, 0.8))  # pale green-grey tiles
    for x in range(0, WIDTH, 30):
        cv2.line(wall, (x, 0), (x, HEIGHT), (110, 120, 95), 1)
    return wall


def people_scene(seed: int = 0, n_frames: int = 20, per_frame: int = 4, jitter_px: float = 2.0):
    """SYNTHETIC frames of the same `per_frame` figures standing (small jitter), 1 s apart."""
    rng = np.random.default_rng(seed)
    wall = background(rng)
    figures = random_figures(rng, per_frame)
    frames = []
    for i in range(n_frames):
        image = wall.copy()
        moved = [
            Figure(f.x + rng.uniform(-jitter_px, jitter_px), f.feet_y, f.height, f.has_hat, f.shirt_bgr)
            for f in figures
        ]
        for f in moved:
            draw_figure(image, f)
        truth = {"persons": [(f.box(), f.has_hat) for f in moved]}
        frames.append(SceneFrame(sensor_noise(rng, image, 2.0), float(i), truth))
    return frames
