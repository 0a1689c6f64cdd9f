"""A tiny deterministic YOLO-format data set for the model chain test: coloured squares and discs on grey."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("red_square", "blue_disc")


def draw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    """One BGR picture and its labels (class, cx, cy, w, h normalised)."""
    import cv2

    image = np.full((size, size, 3), 128, np.uint8)
    labels = []
    for _ in range(int(rng.integers(1, 3))):
        cls = int(rng.integers(0, len(CLASSES)))
        side = int(rng.integers(size // 5, size // 3))
        x0, y0 = (int(v) for v in rng.integers(0, size - side, size=2))
        if cls == 0:
            cv2.rectangle(image, (x0, y0), (x0 + side, y0 + side), (0, 0, 255), -1)
        else:
            cv2.circle(image, (x0 + side // 2, y0 + side // 2), side // 2, (255, 0, 0), -1)
        labels.append((cls, (x0 + side / 2) / size, (y0 + side / 2) / size, side / size, side / size))
    return image, labels


def write_dataset(root: Path, images: int = 24, size: int = 96, seed: int = 0) -> Path:
    """Write images/ and labels/ (train and val share the pictures) and return the data set YAML."""
    import cv2

    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(images):
        image, labels = draw(rng, size)
        split = "val" if i % 4 == 0 else "train"
        cv2.imwrite(str(root / "images" / split / f"{i:03d}.png"), image)
        lines = [f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}" for c, cx, cy, w, h in labels]
        (root / "labels" / split / f"{i:03d}.txt").write_text("\n".join(lines) + "\n")
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(CLASSES))
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return data
