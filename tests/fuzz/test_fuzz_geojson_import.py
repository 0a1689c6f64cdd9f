"""Property tests of the grid GeoJSON import (cloud_hub.admin.geo, behind POST /api/v1/admin/grids/import): arbitrary
JSON, mutated valid FeatureCollections and polygons of arbitrary coordinates are refused with the import's own answers
(a pydantic ValidationError for the body, the API's 422, or an ImportProblem with a message per bad feature) or
accepted as a valid lon/lat polygon that PostgreSQL's jsonb can store; nothing else is ever raised."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from shapely.geometry import shape

from cloud_hub.admin.geo import FeatureCollection, GridRecord, parse_grid_features
from tests.fuzz.strategies import json_values, mutations

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID_PROPS = {"grid_id": "G-9", "name": "fuzzed"}
SQUARE = [[118.79, 32.06], [118.80, 32.06], [118.80, 32.07], [118.79, 32.07], [118.79, 32.06]]
VALID = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
            "properties": {"grid_id": "G-001", "name": "Xinjiekou north", "district_id": "xuanwu"},
        },
        {
            "type": "Feature",
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [[[[118.81, 32.06], [118.82, 32.06], [118.82, 32.07], [118.81, 32.06]]]],
            },
            "properties": {"grid_id": "G-002", "name": "Xinjiekou east", "supervisor": None},
        },
    ],
}
coordinates = st.one_of(
    st.floats(min_value=-200, max_value=200),  # near and past the lon/lat ranges
    st.floats(),  # NaN, infinities, huge
    st.integers(min_value=-(2**70), max_value=2**70),
)
positions = st.lists(coordinates, min_size=0, max_size=4)  # 2 is right; 0, 1, 3 and 4 happen in files


def _import(body: Any) -> list[GridRecord] | None:
    """The records an import of `body` would write, or None when refused; any other exception fails the test."""
    try:
        collection = FeatureCollection.model_validate(body)
    except ValidationError as exc:  # FastAPI answers 422 with these errors
        assert exc.errors()
        return None
    records, problems = parse_grid_features(collection)
    for problem in problems:
        assert problem.msg.strip(), problem
        assert problem.as_error()["loc"][:3] == ["body", "features", problem.index]
    assert len(records) + len({p.index for p in problems}) == len(collection.features)
    for record in records:
        _storable(record)
    return records if not problems else None


def _storable(record: GridRecord) -> None:
    """An accepted polygon routes (valid, non-empty), lies in lon/lat ranges and is jsonb-safe (no NaN/Infinity)."""
    json.dumps(record.polygon, allow_nan=False)
    polygon = shape(record.polygon)
    assert polygon.geom_type in ("Polygon", "MultiPolygon") and polygon.is_valid and not polygon.is_empty
    west, south, east, north = polygon.bounds
    assert -180 <= west <= east <= 180 and -90 <= south <= north <= 90
    assert all(math.isfinite(v) for v in polygon.bounds)


@FUZZ
@given(body=json_values)
def test_arbitrary_json_is_refused_or_imported_never_raised(body: Any) -> None:
    _import(body)


@FUZZ
@given(body=mutations(VALID))
def test_a_mutated_collection_is_refused_or_imported_never_raised(body: Any) -> None:
    _import(body)


@FUZZ
@given(ring=st.lists(positions, min_size=0, max_size=7), kind=st.sampled_from(["Polygon", "MultiPolygon"]))
def test_a_polygon_of_arbitrary_coordinates_is_refused_or_valid(ring: list[list[Any]], kind: str) -> None:
    rings = [ring] if kind == "Polygon" else [[ring]]
    feature = {"type": "Feature", "geometry": {"type": kind, "coordinates": rings}, "properties": VALID_PROPS}
    _import({"type": "FeatureCollection", "features": [feature]})


def test_the_valid_collection_is_imported() -> None:
    records = _import(VALID)
    assert records is not None and [r.grid_id for r in records] == ["G-001", "G-002"]


def _one(geometry: dict[str, Any]) -> tuple[list[GridRecord], list[str]]:
    collection = FeatureCollection.model_validate(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": geometry, "properties": VALID_PROPS}],
        }
    )
    records, problems = parse_grid_features(collection)
    return records, [p.msg for p in problems]


def test_a_self_intersecting_polygon_is_refused_naming_why() -> None:
    bowtie = [[118.79, 32.06], [118.80, 32.07], [118.80, 32.06], [118.79, 32.07], [118.79, 32.06]]
    records, problems = _one({"type": "Polygon", "coordinates": [bowtie]})
    assert not records
    assert "invalid" in problems[0] and "Self-intersection" in problems[0]


def test_projected_coordinates_are_refused_as_not_lon_lat() -> None:
    metres = [[500000, 3500000], [501000, 3500000], [501000, 3501000], [500000, 3501000], [500000, 3500000]]
    records, problems = _one({"type": "Polygon", "coordinates": [metres]})
    assert not records
    assert "lon/lat" in problems[0]


def test_latitude_outside_its_range_is_refused() -> None:
    # lat/lon swapped where the swap leaves the range: (32, 118) has latitude 118
    swapped = [[lat, lon] for lon, lat in SQUARE]
    records, problems = _one({"type": "Polygon", "coordinates": [swapped]})
    assert not records
    assert "lon/lat" in problems[0]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_coordinate_is_refused(value: float) -> None:
    # The API's JSON parser (json.loads) reads NaN and Infinity; a NaN once kept the ring from closing and GEOS's
    # exception escaped Grid.from_geojson as a 500.
    ring = [[value, 32.06], [118.80, 32.06], [118.80, 32.07], [118.79, 32.06]]
    records, problems = _one({"type": "Polygon", "coordinates": [ring]})
    assert not records and problems[0].strip()
