from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.detections import Detections
from edge_agent.zones import Zone, ZoneConfig, anchors_normalised

NAMES = ("person", "bicycle", "car")


def test_anchor_is_bottom_centre_and_normalised() -> None:
    det = Detections.from_arrays([[100, 50, 200, 150]], [0.9], [2], NAMES)
    assert anchors_normalised(det, (400, 300)).tolist() == [[0.375, 0.5]]


@pytest.mark.parametrize(
    ("point", "inside"),
    [((0.5, 0.5), True), ((0.05, 0.5), False), ((0.5, 0.95), False), ((0.2, 0.2), True), ((0.9, 0.9), False)],
)
def test_contains(point: tuple[float, float], inside: bool) -> None:
    zone = Zone(ZoneConfig(id="z", polygon=[(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]))
    assert zone.contains(np.array([point])).tolist() == [inside]


def test_box_counts_by_its_ground_point_not_its_centre() -> None:
    zone = Zone(ZoneConfig(id="kerb", polygon=[(0.0, 0.6), (1.0, 0.6), (1.0, 1.0), (0.0, 1.0)]))
    # A tall box whose centre is above the kerb strip but whose bottom edge stands in it.
    det = Detections.from_arrays([[10, 10, 50, 70], [60, 10, 90, 50]], [0.9, 0.9], [2, 2], NAMES)
    assert zone.contains(anchors_normalised(det, (100, 100))).tolist() == [True, False]


def test_pixel_polygon_scales_to_frame() -> None:
    zone = Zone(ZoneConfig(id="z", polygon=[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]))
    assert zone.pixel_polygon((640, 480)).tolist() == [[0, 0], [320, 0], [320, 240]]


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([(0, 0), (1, 1), (1, 0), (0, 1)], "edges must not cross"),  # bow tie
        ([(0, 0), (1.5, 0), (1, 1)], "less than or equal to 1"),
        ([(0, 0), (1, 0)], "at least 3"),
        ([(0, 0), (0.5, 0.5), (1, 1)], "non-zero area"),
    ],
)
def test_bad_polygons_are_refused(polygon: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ZoneConfig(id="z", polygon=polygon)
