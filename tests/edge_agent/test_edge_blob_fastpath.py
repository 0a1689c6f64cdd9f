"""The fused OpenCV blob path gives the same tensor as the plain numpy definition, for every manifest recipe."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.detectors.preprocess import to_blob


def numpy_blob(image: np.ndarray, order: str, mean: tuple, std: tuple) -> np.ndarray:
    pixels = image[:, :, ::-1] if order == "rgb" else image
    blob = (pixels.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return blob.transpose(2, 0, 1)[None]


@pytest.mark.parametrize(
    ("order", "mean", "std"),
    [
        ("bgr", (0, 0, 0), (1, 1, 1)),  # YOLOX
        ("rgb", (0, 0, 0), (255, 255, 255)),  # Ultralytics
        ("bgr", (103.53, 116.28, 123.675), (57.375, 57.12, 58.395)),  # NanoDet (per-channel: numpy path)
        ("rgb", (10, 10, 10), (2, 2, 2)),
    ],
)
def test_blob_matches_the_definition(order: str, mean: tuple, std: tuple) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    blob = to_blob(image, order, mean, std)
    assert blob.shape == (1, 3, 48, 64) and blob.dtype == np.float32 and blob.flags.c_contiguous
    np.testing.assert_allclose(blob, numpy_blob(image, order, mean, std), rtol=1e-5, atol=1e-4)
    # The channel order really is swapped for rgb: the first plane is the image's last (red) channel.
    first = (image[:, :, 2] if order == "rgb" else image[:, :, 0]).astype(np.float32)
    np.testing.assert_allclose(blob[0, 0], (first - mean[0]) / std[0], rtol=1e-5, atol=1e-4)
