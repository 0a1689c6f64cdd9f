"""GET /api/v1/geo/areas: district outlines and grid cells for the maps, readable by every logged-in role."""

from __future__ import annotations

from fastapi import APIRouter

from cloud_hub.admin.districts import district_names
from cloud_hub.admin.geo import FeatureCollection, areas_collection
from cloud_hub.admin.grids import all_grids
from cloud_hub.api.deps import ConnDep, CurrentUser
from cloud_hub.api.problems import problem_responses
from cloud_hub.api.routes.admin_grids import GeoJSONResponse

router = APIRouter(prefix="/api/v1/geo", tags=["geo"], responses=problem_responses(401, 422))


@router.get("/areas", operation_id="list_geo_areas", response_class=GeoJSONResponse)
def list_geo_areas(conn: ConnDep, user: CurrentUser, district_id: str | None = None) -> FeatureCollection:
    """A FeatureCollection: first each district (geometry: the union of its grids' polygons; null without grids),
    then each grid; properties kind (district | grid), id, name, district_id, supervisor."""
    grids = [g.record() for g in all_grids(conn, district_id)]
    return areas_collection(district_names(conn, district_id), grids)
