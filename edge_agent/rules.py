"""Edge rules file for one camera: its zones and the analytics that watch them (rules/edge/*.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.analytics.build import zone_refs
from edge_agent.analytics.kitchen import KitchenRuleConfig
from edge_agent.analytics.parking import ParkingRuleConfig
from edge_agent.analytics.road_occupation import RoadOccupationRuleConfig
from edge_agent.analytics.waterlogging import WaterloggingRuleConfig
from edge_agent.config import ConfigError, format_validation_error, read_yaml_mapping
from edge_agent.plates.options import PlateOptions
from edge_agent.zones import ZoneConfig

# `type` selects the model, so an error names only the fields of the analytic the rule meant.
AnalyticConfig = Annotated[
    ParkingRuleConfig | KitchenRuleConfig | WaterloggingRuleConfig | RoadOccupationRuleConfig,
    Field(discriminator="type"),
]


class CameraRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, description="bump on every change; reported with each event's rule")
    zones: list[ZoneConfig] = Field(min_length=1)
    analytics: list[AnalyticConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> CameraRules:
        ids = [z.id for z in self.zones]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"zone ids must be unique; repeated: {', '.join(repeated)}")
        for n, analytic in enumerate(self.analytics):
            unknown = [z for z in zone_refs(analytic) if z not in ids]
            if unknown:
                raise ValueError(f"analytics[{n}] ({analytic.id}) names unknown zones {unknown}; zones: {ids}")
        return self

    def plate_options(self) -> PlateOptions:
        """What the camera's rules need of the plate models (parking rules' `plates:`, merged)."""
        needed = PlateOptions()
        for analytic in self.analytics:
            if isinstance(analytic, ParkingRuleConfig):
                needed = needed.merged(analytic.plates)
        return needed

    def check_classes(self, model_classes: tuple[str, ...], source: str) -> None:
        """Refuse class names the loaded model cannot produce (a typo would silently never fire)."""
        for n, analytic in enumerate(self.analytics):
            unknown = [c for c in analytic.classes if c not in model_classes]
            if unknown:
                raise ConfigError(f"{source}: analytics[{n}].classes: {unknown} are not classes of the loaded model")


def load_rules(path: Path) -> CameraRules:
    data = read_yaml_mapping(path)
    try:
        return CameraRules.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
