"""Build the analytic object for a rule config of the finding family (kitchen, waterlogging, road occupation)."""

from __future__ import annotations

from edge_agent.analytics.finding import SceneAnalytic
from edge_agent.analytics.kitchen import KitchenAnalytic, KitchenRuleConfig
from edge_agent.analytics.parking import ParkingRuleConfig
from edge_agent.analytics.road_occupation import RoadOccupationAnalytic, RoadOccupationRuleConfig
from edge_agent.analytics.waterlogging import WaterloggingAnalytic, WaterloggingRuleConfig
from edge_agent.zones import Zone

SceneRuleConfig = KitchenRuleConfig | WaterloggingRuleConfig | RoadOccupationRuleConfig
AnyRuleConfig = SceneRuleConfig | ParkingRuleConfig


def build_scene_analytic(camera_id: str, config: SceneRuleConfig, zones: dict[str, Zone]) -> SceneAnalytic:
    if isinstance(config, KitchenRuleConfig):
        return KitchenAnalytic(camera_id, config, zones)
    if isinstance(config, WaterloggingRuleConfig):
        return WaterloggingAnalytic(camera_id, config, [zones[z] for z in config.zones])
    if isinstance(config, RoadOccupationRuleConfig):
        return RoadOccupationAnalytic(camera_id, config, [zones[z] for z in config.zones])
    raise TypeError(f"no scene analytic for rule type {type(config).__name__}")


def zone_refs(config: AnyRuleConfig) -> list[str]:
    """Every zone id a rule names (a kitchen rule also names floor zones outside `zones`)."""
    return config.zone_refs if isinstance(config, KitchenRuleConfig) else list(config.zones)


def confidence_floor(config: AnyRuleConfig) -> float:
    """The lowest detection score any part of a rule uses (kitchen objects are scored lower than people)."""
    return config.confidence_floor if isinstance(config, KitchenRuleConfig) else config.min_confidence


def track_patience_s(config: AnyRuleConfig) -> float:
    """How long the tracker must keep a lost object for this rule (its grace period before an `end`)."""
    if isinstance(config, KitchenRuleConfig):
        return config.clear_s
    if isinstance(config, WaterloggingRuleConfig):
        return 0.0  # its detections only mask occluders out of the coverage; no identity over time
    return config.leave_after_s


def occlusion_hold_s(config: AnyRuleConfig) -> float:
    """How long this rule keeps a stay nobody sees (the tracker keeps a stationary lost track as long)."""
    return config.occlusion_hold_s if isinstance(config, ParkingRuleConfig) else 0.0
