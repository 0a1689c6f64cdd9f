"""Polygon zones in normalised frame coordinates (0..1), so one rules file fits any stream resolution."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge_agent.detections import Detections

Coord = Annotated[float, Field(ge=0.0, le=1.0)]


class ZoneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    name: str = ""
    polygon: list[tuple[Coord, Coord]] = Field(min_length=3, description="[[x, y], ...] in 0..1 of the frame")

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        poly = shapely.Polygon(points)
        if not poly.is_valid or poly.area <= 0:
            reason = shapely.is_valid_reason(poly)
            raise ValueError(f"polygon must be simple with a non-zero area (edges must not cross): {reason}")
        return points


class Zone:
    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        self.id = config.id
        self.polygon = shapely.Polygon(config.polygon)
        shapely.prepare(self.polygon)  # makes repeated point-in-polygon tests fast

    def contains(self, points_norm: np.ndarray) -> np.ndarray:
        """(N, 2) normalised points -> (N,) bool, True inside or on the edge."""
        if len(points_norm) == 0:
            return np.zeros(0, dtype=bool)
        return shapely.intersects_xy(self.polygon, points_norm[:, 0], points_norm[:, 1])

    def pixel_polygon(self, frame_wh: tuple[int, int]) -> np.ndarray:
        """(K, 2) int32 vertices in pixels, for drawing."""
        return np.round(np.asarray(self.config.polygon) * np.asarray(frame_wh)).astype(np.int32)


def anchors_normalised(detections: Detections, frame_wh: tuple[int, int]) -> np.ndarray:
    """Bottom-centre of each box (where a vehicle stands) in 0..1 of the frame."""
    return detections.anchors_bottom_center() / np.asarray(frame_wh, dtype=np.float32)
