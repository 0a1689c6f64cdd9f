"""LPD-YuNet: priors and decoding against the OpenCV zoo's arithmetic, NMS, and (SYNTHETIC) the real model finding
a rendered plate warped onto a real car."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from edge_plates_scene import LPD_MODEL, plate_on_car

from edge_agent.plates.detector import INPUT_WH, PlateDetector, decode, prior_boxes, select
from tests.shared_assets import require_shared


def zoo_priors(w: int, h: int) -> np.ndarray:
    """The zoo's `_priorGen`, loop for loop, as the reference for the vectorised version."""
    fm2 = [int(int((h + 1) / 2) / 2), int(int((w + 1) / 2) / 2)]
    fm3 = [int(fm2[0] / 2), int(fm2[1] / 2)]
    fm4 = [int(fm3[0] / 2), int(fm3[1] / 2)]
    fm5 = [int(fm4[0] / 2), int(fm4[1] / 2)]
    fm6 = [int(fm5[0] / 2), int(fm5[1] / 2)]
    min_sizes = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]
    steps = [8, 16, 32, 64]
    priors = []
    for k, f in enumerate([fm3, fm4, fm5, fm6]):
        for i, j in product(range(f[0]), range(f[1])):
            for size in min_sizes[k]:
                priors.append([(j + 0.5) * steps[k] / w, (i + 0.5) * steps[k] / h, size / w, size / h])
    return np.array(priors, dtype=np.float32)


@pytest.mark.parametrize("wh", [(320, 240), (640, 480), (321, 241)])
def test_priors_match_the_zoo_loops(wh: tuple[int, int]) -> None:
    np.testing.assert_allclose(prior_boxes(wh), zoo_priors(*wh), rtol=0, atol=1e-6)


def test_priors_count_matches_the_model_outputs() -> None:
    assert prior_boxes(INPUT_WH).shape == (4385, 4)


def test_decode_places_corners_by_prior_and_variance() -> None:
    priors = np.array([[0.5, 0.5, 0.1, 0.2], [0.25, 0.25, 0.05, 0.05]], dtype=np.float32)
    loc = np.zeros((2, 14), dtype=np.float32)
    loc[0, 4:8] = [-1, -1, 1, -1]  # corner 1 up-left, corner 2 up-right
    loc[0, 10:14] = [1, 1, -1, 1]  # corner 3 down-right, corner 4 down-left
    loc[0, 0:4] = 99.0  # box columns are not corners: must be ignored
    conf = np.array([[0.1, 0.81], [0.5, 0.5]], dtype=np.float32)
    iou = np.array([[1.0], [1.7]], dtype=np.float32)  # iou is clipped to 1
    corners, scores = decode(loc, conf, iou, priors, (320, 240))
    # centre (160, 120); offsets 0.1 * prior size * input size = (3.2, 4.8)
    np.testing.assert_allclose(corners[0], [[156.8, 115.2], [163.2, 115.2], [163.2, 124.8], [156.8, 124.8]], atol=1e-4)
    np.testing.assert_allclose(corners[1], [[80, 60]] * 4, atol=1e-4)
    np.testing.assert_allclose(scores, [0.9, np.sqrt(0.5)], atol=1e-6)


def test_decode_refuses_outputs_that_do_not_fit_the_priors() -> None:
    with pytest.raises(ValueError, match="disagree with the priors"):
        decode(np.zeros((3, 14)), np.zeros((3, 2)), np.zeros((3, 1)), prior_boxes(INPUT_WH))


def test_select_thresholds_and_suppresses_overlaps_best_first() -> None:
    quad = np.array([[10, 10], [50, 10], [50, 20], [10, 20]], dtype=np.float32)
    corners = np.stack([quad, quad + 1, quad + 100, quad + 200])
    scores = np.array([0.7, 0.9, 0.8, 0.3], dtype=np.float32)
    assert select(corners, scores, 0.5, 0.3, 10) == [1, 2]
    assert select(corners, scores, 0.5, 0.3, 1) == [1]
    assert select(corners, scores, 0.95, 0.3, 10) == []


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    require_shared(LPD_MODEL)
    return PlateDetector(LPD_MODEL)


def test_synthetic_plate_on_a_real_car_is_found_with_its_corners(detector: PlateDetector) -> None:
    """SYNTHETIC plate, real photo: both on the whole image and on the vehicle's region (mapped back to pixels)."""
    scene = plate_on_car()
    for roi in (None, scene.vehicle_xyxy):
        found = detector.detect(scene.image, roi)
        assert len(found) == 1, roi
        assert found[0].score >= 0.6
        error = np.linalg.norm(found[0].corners - scene.corners, axis=1)
        assert error.max() < 8.0, (roi, found[0].corners.tolist())  # the plate is ~105x38 px


def test_no_plate_where_there_is_none(detector: PlateDetector) -> None:
    scene = plate_on_car()
    h, w = scene.image.shape[:2]
    assert detector.detect(scene.image, (0, h - 90, w, h)) == []  # the grass strip below the car
    assert detector.detect(scene.image, (5, 5, 9, 9)) == []  # too small a region to hold anything


def test_detector_refuses_non_bgr_images(detector: PlateDetector) -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        detector.detect(np.zeros((240, 320), np.uint8))
