"""Plate corners ordering, perspective rectification, and the quad blur used for plates (pure pixels)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from edge_agent.evidence.privacy import blur_quads
from edge_agent.plates.crop import OCR_HEIGHT, order_corners, rectify_plate

TL_TR_BR_BL = np.array([[100, 50], [300, 60], [295, 130], [98, 118]], dtype=np.float32)


@pytest.mark.parametrize("perm", list(itertools.permutations(range(4))))
def test_order_corners_from_any_order(perm: tuple[int, ...]) -> None:
    np.testing.assert_array_equal(order_corners(TL_TR_BR_BL[list(perm)]), TL_TR_BR_BL)


def test_order_corners_of_a_tilted_plate() -> None:
    """20 degrees of roll: the sum/difference trick would swap corners here; angles about the centre do not."""
    centre = np.array([200.0, 200.0])
    theta = np.deg2rad(20)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    local = np.array([[-60, -20], [60, -20], [60, 20], [-60, 20]], dtype=np.float64)
    quad = (local @ rot.T + centre).astype(np.float32)
    np.testing.assert_allclose(order_corners(quad[[2, 0, 3, 1]]), quad)


@pytest.mark.parametrize("bad", [np.zeros((3, 2)), np.full((4, 2), np.nan), np.zeros(7)])
def test_order_corners_refuses_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="4 finite"):
        order_corners(bad)


def test_rectify_makes_the_plate_upright_with_its_aspect() -> None:
    """A plate drawn left-red / right-green, warped into a skewed quad, comes back upright and in order."""
    plate = np.zeros((70, 220, 3), np.uint8)
    plate[:, :110] = (0, 0, 255)
    plate[:, 110:] = (0, 255, 0)
    plate[:10] = (255, 0, 0)  # a blue top edge tells up from down
    src = np.array([[0, 0], [219, 0], [219, 69], [0, 69]], dtype=np.float32)
    image = np.full((300, 400, 3), 128, np.uint8)
    warp = cv2.getPerspectiveTransform(src, TL_TR_BR_BL)
    mask = cv2.warpPerspective(np.full((70, 220), 255, np.uint8), warp, (400, 300)) > 127
    image[mask] = cv2.warpPerspective(plate, warp, (400, 300))[mask]
    crop = rectify_plate(image, TL_TR_BR_BL[[3, 1, 0, 2]], margin=0.0)
    assert crop.shape[0] == OCR_HEIGHT
    assert 2.4 < crop.shape[1] / crop.shape[0] < 3.4  # ~200x75 px quad
    h, w = crop.shape[:2]
    assert crop[h // 2, w // 4, 2] > 200 and crop[h // 2, w // 4, 1] < 60  # red on the left
    assert crop[h // 2, 3 * w // 4, 1] > 200 and crop[h // 2, 3 * w // 4, 2] < 60  # green on the right
    assert crop[1, w // 2, 0] > 200  # blue on top


def test_rectify_refuses_degenerate_corners() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        rectify_plate(np.zeros((50, 50, 3), np.uint8), np.array([[10, 10], [10.5, 10], [10.5, 10.5], [10, 10.5]]))


def test_blur_quads_changes_only_the_grown_quad_and_leaves_the_input() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    before = image.copy()
    quad = np.array([[100, 80], [200, 80], [200, 120], [100, 120]], dtype=np.float32)
    out = blur_quads(image, [quad])
    np.testing.assert_array_equal(image, before)
    changed = np.any(out != image, axis=2)
    assert changed[90:110, 110:190].mean() > 0.95  # inside: the noise is averaged away
    assert not changed[:70].any() and not changed[130:].any() and not changed[:, :85].any()
    # Noise within the plate no longer varies pixel to pixel (it would on a readable plate).
    assert out[95:105, 120:180].std() < image[95:105, 120:180].std() / 3


def test_blur_quads_refuses_bad_quads() -> None:
    with pytest.raises(ValueError, match="4 finite"):
        blur_quads(np.zeros((10, 10, 3), np.uint8), [np.zeros((3, 2))])
