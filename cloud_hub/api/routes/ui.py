"""GET /api/v1/ui/config: what the web apps need to know about this hub's deployment (map base layer, live channel)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cloud_hub.api.deps import CurrentUser, SettingsDep

router = APIRouter(prefix="/api/v1/ui", tags=["ui"])


class MapConfig(BaseModel):
    tiles_url: str | None = Field(description="XYZ tile URL template ({z}/{x}/{y}); none: the hub's own GeoJSON only")
    tiles_crs: Literal["wgs84", "gcj02"] = Field(description="gcj02 for AMap/Tencent tiles: data is shifted to match")
    tiles_attribution: str
    max_zoom: int


class UiConfig(BaseModel):
    map: MapConfig
    live_retention_s: float


@router.get("/config", operation_id="get_ui_config")
def get_ui_config(settings: SettingsDep, user: CurrentUser) -> UiConfig:
    return UiConfig(
        map=MapConfig(
            tiles_url=settings.map_tiles_url,
            tiles_crs=settings.map_tiles_crs,
            tiles_attribution=settings.map_tiles_attribution,
            max_zoom=settings.map_max_zoom,
        ),
        live_retention_s=settings.live_retention_s,
    )
