"""Grid geometry, pure: polygon checks on top of the router's own (`Grid.from_geojson`), GeoJSON FeatureCollections
of grids and district outlines (the union of a district's grids), and the parsing of a grid import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shapely.geometry import mapping

from cloud_hub.dispatch.routing import Grid, GridError

GEOJSON_MEDIA_TYPE = "application/geo+json"


class Feature(BaseModel):
    """A GeoJSON Feature; `geometry` is any GeoJSON geometry object (null for a district without grids)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"] = "Feature"
    id: str | int | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None = None


class FeatureCollection(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]


class GridProperties(BaseModel):
    """The properties a grid feature carries (export) and needs (import); other properties are ignored."""

    grid_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = Field(min_length=1, max_length=200)
    district_id: str | None = None
    supervisor: str | None = None


def checked_polygon(grid_id: str, geojson: Mapping[str, Any]) -> dict[str, Any]:
    """The polygon as stored (type and coordinates only) when routing can use it, else GridError naming the grid.

    Adds one check to the router's: coordinates must be lon/lat; a projected file (metres) is the usual mistake."""
    grid = Grid.from_geojson(grid_id, geojson)
    west, south, east, north = grid.polygon.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise GridError(
            f"grid {grid_id}: coordinates must be lon/lat in WGS 84 (EPSG:4326); bounds are "
            f"({west:g}, {south:g}, {east:g}, {north:g}), which looks projected"
        )
    return {"type": geojson["type"], "coordinates": geojson["coordinates"]}


@dataclass(frozen=True, slots=True)
class GridRecord:
    grid_id: str
    name: str
    district_id: str | None
    supervisor: str | None
    polygon: dict[str, Any]

    def properties(self) -> dict[str, Any]:
        return {
            "grid_id": self.grid_id,
            "name": self.name,
            "district_id": self.district_id,
            "supervisor": self.supervisor,
        }


def grids_collection(grids: Iterable[GridRecord]) -> FeatureCollection:
    """The export format, which the import takes back unchanged."""
    return FeatureCollection(
        features=[Feature(id=g.grid_id, geometry=g.polygon, properties=g.properties()) for g in grids]
    )


def areas_collection(districts: Iterable[tuple[str, str]], grids: Sequence[GridRecord]) -> FeatureCollection:
    """Districts (outline = union of their grids' polygons; null geometry when they have none) then grids, each
    with properties kind, id, name, district_id, supervisor. Grids whose polygon routing refuses are left out."""
    shapes: dict[str, list[Any]] = {}
    grid_features = []
    for g in grids:
        try:
            polygon = Grid.from_geojson(g.grid_id, g.polygon).polygon
        except GridError:
            continue
        if g.district_id:
            shapes.setdefault(g.district_id, []).append(polygon)
        grid_features.append(
            Feature(
                id=f"grid:{g.grid_id}",
                geometry=g.polygon,
                properties={"kind": "grid", "id": g.grid_id, "name": g.name, "district_id": g.district_id,
                            "supervisor": g.supervisor},
            )
        )  # fmt: skip
    district_features = []
    for district_id, name in districts:
        parts = shapes.get(district_id)
        outline = mapping(shapely.union_all(parts)) if parts else None
        district_features.append(
            Feature(
                id=f"district:{district_id}",
                geometry=_plain(outline) if outline else None,
                properties={"kind": "district", "id": district_id, "name": name, "district_id": district_id,
                            "supervisor": None},
            )
        )  # fmt: skip
    return FeatureCollection(features=[*district_features, *grid_features])


def _plain(value: Any) -> Any:
    # shapely's mapping() uses tuples; JSON wants lists (and pydantic's dict[str, Any] keeps tuples as they are).
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class ImportProblem:
    index: int
    grid_id: str | None
    field: list[str | int]
    msg: str

    def as_error(self) -> dict[str, Any]:
        who = f"feature {self.index}" + (f" (grid {self.grid_id})" if self.grid_id else "")
        return {
            "loc": ["body", "features", self.index, *self.field],
            "msg": f"{who}: {self.msg}",
            "type": "value_error",
        }


def parse_grid_features(collection: FeatureCollection) -> tuple[list[GridRecord], list[ImportProblem]]:
    """Every feature as a grid record, or the problems of each bad one (all of them, not only the first)."""
    records: list[GridRecord] = []
    problems: list[ImportProblem] = []
    first_index: dict[str, int] = {}
    for index, feature in enumerate(collection.features):
        try:
            props = GridProperties.model_validate(feature.properties or {})
        except ValidationError as exc:
            raw_id = (feature.properties or {}).get("grid_id")
            for err in exc.errors():
                problems.append(
                    ImportProblem(
                        index, raw_id if isinstance(raw_id, str) else None, ["properties", *err["loc"]], err["msg"]
                    )
                )
            continue
        if props.grid_id in first_index:
            problems.append(
                ImportProblem(index, props.grid_id, ["properties", "grid_id"],
                              f"grid_id repeats feature {first_index[props.grid_id]}")
            )  # fmt: skip
            continue
        first_index[props.grid_id] = index
        if feature.geometry is None:
            problems.append(ImportProblem(index, props.grid_id, ["geometry"], "a grid needs a Polygon or MultiPolygon"))
            continue
        try:
            polygon = checked_polygon(props.grid_id, feature.geometry)
        except GridError as exc:
            problems.append(ImportProblem(index, props.grid_id, ["geometry"], str(exc)))
            continue
        records.append(GridRecord(props.grid_id, props.name, props.district_id, props.supervisor, polygon))
    return records, problems
