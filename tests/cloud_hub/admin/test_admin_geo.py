"""Grid geometry and the import parser, pure: the router's polygon rules, lon/lat bounds, district outlines."""

from __future__ import annotations

import pytest
from shapely.geometry import shape

from cloud_hub.admin.geo import (
    Feature,
    FeatureCollection,
    GridRecord,
    areas_collection,
    checked_polygon,
    grids_collection,
    parse_grid_features,
)
from cloud_hub.dispatch.routing import GridError


def square(west: float, south: float, size: float = 0.01) -> dict:
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.mark.parametrize(
    ("geojson", "words"),
    [
        (BOWTIE, "Self-intersection"),
        ({"type": "Point", "coordinates": [1, 2]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon"}, "not GeoJSON"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "g-1"),
        (square(13_200_000, 3_700_000, 500), "EPSG:4326"),
    ],
)
def test_bad_polygons_name_the_grid_and_the_reason(geojson: dict, words: str) -> None:
    with pytest.raises(GridError) as caught:
        checked_polygon("g-1", geojson)
    assert "g-1" in str(caught.value) and words in str(caught.value)


def test_checked_polygon_keeps_only_type_and_coordinates() -> None:
    given = {**square(118.78, 32.05), "bbox": [0, 0, 1, 1], "crs": {"type": "name"}}
    assert checked_polygon("g", given) == square(118.78, 32.05)


def feature(props: dict | None, geometry: dict | None) -> Feature:
    return Feature(geometry=geometry, properties=props)


def test_parse_lists_every_bad_feature_with_its_index() -> None:
    collection = FeatureCollection(
        features=[
            feature({"grid_id": "a", "name": "A"}, square(118.0, 32.0)),
            feature({"grid_id": "b", "name": "B"}, BOWTIE),
            feature({"name": "no id"}, square(118.1, 32.0)),
            feature({"grid_id": "a", "name": "again"}, square(118.2, 32.0)),
            feature({"grid_id": "e", "name": "E"}, None),
        ]
    )
    records, problems = parse_grid_features(collection)
    assert [r.grid_id for r in records] == ["a"]
    assert [(p.index, p.field) for p in problems] == [
        (1, ["geometry"]),
        (2, ["properties", "grid_id"]),
        (3, ["properties", "grid_id"]),
        (4, ["geometry"]),
    ]
    errors = [p.as_error() for p in problems]
    assert errors[0]["loc"] == ["body", "features", 1, "geometry"]
    assert errors[0]["msg"].startswith("feature 1 (grid b): grid b: polygon is invalid (Self-intersection")
    assert "repeats feature 0" in errors[2]["msg"]


def test_export_parses_back_to_the_same_records() -> None:
    grids = [
        GridRecord("g1", "One", "d1", "boss", square(118.0, 32.0)),
        GridRecord("g2", "Two", None, None, square(118.01, 32.0)),
    ]
    exported = FeatureCollection.model_validate(grids_collection(grids).model_dump(mode="json"))
    records, problems = parse_grid_features(exported)
    assert problems == [] and records == grids


def test_district_outline_is_the_union_of_its_grids() -> None:
    grids = [
        GridRecord("g1", "One", "d1", "boss", square(118.00, 32.0)),
        GridRecord("g2", "Two", "d1", None, square(118.01, 32.0)),  # shares an edge with g1
        GridRecord("g3", "Three", None, None, square(118.05, 32.0)),
        GridRecord("bad", "Bad", "d1", None, BOWTIE),  # routing refuses it: left out of the map too
    ]
    areas = areas_collection([("d1", "District one"), ("d2", "Empty")], grids).model_dump(mode="json")
    kinds = [(f["properties"]["kind"], f["properties"]["id"]) for f in areas["features"]]
    assert kinds == [("district", "d1"), ("district", "d2"), ("grid", "g1"), ("grid", "g2"), ("grid", "g3")]
    outline = shape(areas["features"][0]["geometry"])
    assert outline.geom_type == "Polygon"  # two touching squares merge into one ring
    assert outline.area == pytest.approx(0.0002)
    assert areas["features"][1]["geometry"] is None
    assert areas["features"][2]["properties"] == {
        "kind": "grid", "id": "g1", "name": "One", "district_id": "d1", "supervisor": "boss"
    }  # fmt: skip
