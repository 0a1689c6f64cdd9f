"""The live-push benchmark's places: every new situation must open its own incident and work order, so no two
places may be as close as the hub's merge distance for parked cars, and officer1's grid must get its share."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from shapely.geometry import Point, box

from bench.live_latency import Places
from cloud_hub.incidents.nearby import distance_m
from cloud_hub.rules.loader import load_hub_rules
from cloud_hub.seed.demo import DEMO_GRIDS

REPO = Path(__file__).resolve().parents[2]


def test_places_are_further_apart_than_the_merge_distance() -> None:
    merge = {rule.kind: rule.distance_m for rule in load_hub_rules(REPO / "rules" / "hub").merge.rules}
    places = Places()
    points = [point for point, _ in places.points]
    assert len(set(points)) == len(points) >= 2000
    nearest = min(
        distance_m(a[0], a[1], b[0], b[1])
        for a, b in itertools.combinations(points, 2)
        if abs(a[0] - b[0]) < 0.001 and abs(a[1] - b[1]) < 0.001
    )
    assert nearest > merge["illegal_parking"]


def test_officer1s_grid_gets_every_sixth_place_and_the_run_stops_when_they_are_used_up() -> None:
    places = Places()
    officer1 = box(DEMO_GRIDS[0].west, DEMO_GRIDS[0].south, DEMO_GRIDS[0].east, DEMO_GRIDS[0].north)
    taken = [places.take() for _ in range(len(places.points))]
    assert all(officer1.contains(Point(point)) == timed for point, timed in taken)
    assert sum(timed for _, timed in taken[:600]) == 100
    with pytest.raises(RuntimeError, match="places are taken"):
        places.take()
