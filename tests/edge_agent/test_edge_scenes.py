"""The SYNTHETIC scene generators: deterministic per seed, and their ground truth matches their pixels."""

from __future__ import annotations

import numpy as np

from tests.edge_agent.scenes.flood import flood_scene, road_mask
from tests.edge_agent.scenes.gauge import GAUGE_BOTTOM_Y, PX_PER_CM, gauge_scene
from tests.edge_agent.scenes.kitchen_floor import LIGHTS_ON_FRAME, kitchen_floor_scene
from tests.edge_agent.scenes.people import people_scene


def test_synthetic_scenes_are_deterministic_per_seed() -> None:
    for make in (gauge_scene, flood_scene, kitchen_floor_scene):
        a, b, c = list(make(seed=4)), list(make(seed=4)), list(make(seed=5))
        assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
        assert not all(np.array_equal(x.image, y.image) for x, y in zip(a, c, strict=True))
    assert np.array_equal(people_scene(2)[3].image, people_scene(2)[3].image)


def test_synthetic_gauge_truth_rises_then_recedes_and_matches_the_waterline() -> None:
    frames = list(gauge_scene(seed=0, n_frames=60))
    depth = np.array([f.truth["depth_cm"] for f in frames])
    peak = int(depth.argmax())
    assert depth[0] == 0 and depth[-1] == 0 and depth[peak] > 40
    assert np.all(np.diff(depth[: peak + 1]) >= 0) and np.all(np.diff(depth[peak:]) <= 0)
    wet = frames[peak]
    line = wet.truth["waterline_y"]
    assert line == round(GAUGE_BOTTOM_Y - wet.truth["depth_cm"] * PX_PER_CM)
    # Rows below the line are water (murky, darker than the white board); the board above is bright.
    board_above = wet.image[line - 10 : line - 3, 160:180].mean()
    water_below = wet.image[line + 5 : line + 12, 160:180].mean()
    assert board_above > water_below + 60


def test_synthetic_flood_coverage_is_the_water_fraction_of_the_road() -> None:
    road = road_mask()
    frames = list(flood_scene(seed=1))
    for f in frames:
        assert f.truth["coverage"] == f.truth["water_mask"][road].mean()
        assert not (f.truth["water_mask"] & ~road).any()
    assert frames[0].truth["coverage"] == 0 and max(f.truth["coverage"] for f in frames) > 0.6


def test_synthetic_kitchen_floor_rodent_runs_and_light_switch() -> None:
    frames = list(kitchen_floor_scene(seed=0))
    present = [f.truth["rodent_box"] is not None for f in frames]
    assert 20 <= sum(present) <= 30 and not present[0]
    assert frames[LIGHTS_ON_FRAME].truth["lights_on"] and frames[LIGHTS_ON_FRAME].truth["rodent_box"] is None
    x1, y1, x2, y2 = (int(v) for v in frames[25].truth["rodent_box"])
    assert frames[25].image[y1:y2, x1:x2].mean() < frames[25].image.mean() - 20  # a dark blob on the tiles


def test_synthetic_people_have_hats_on_top_only_when_truth_says_so() -> None:
    frame = people_scene(seed=3)[0]
    hats = [has_hat for _, has_hat in frame.truth["persons"]]
    assert True in hats and False in hats
    for (x1, y1, x2, _), has_hat in frame.truth["persons"]:
        cx = int((x1 + x2) / 2)
        top = frame.image[int(y1) + 3 : int(y1) + 8, cx - 2 : cx + 3]
        assert (top.min() > 200) == has_hat
