"""Road occupation (street vending): people or objects staying in a no-vending zone past a threshold.

The dwell logic is the parking machine (`ZoneDwell`), fed with the configured classes: a vendor, their stall
table, chairs, umbrella. Where the object stands is the bottom-centre of its box, as for vehicles. Optional time
`windows` (e.g. vending banned only in market-free hours) count stays as in parking.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from edge_agent.analytics.finding import Finding, FrameContext
from edge_agent.analytics.schedule import TimeWindowedRule
from edge_agent.analytics.zone_dwell import DwellPolicy, ZoneDwell
from edge_agent.zones import Zone

KIND = "road_occupation"
SUBTYPE = "street_vending"


class RoadOccupationRuleConfig(TimeWindowedRule):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["road_occupation"]
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "road_occupation.no_vending"
    version: int = Field(1, ge=1)
    zones: list[str] = Field(min_length=1, description="ids of the no-vending zones this rule watches")
    classes: list[str] = Field(
        ["person", "umbrella", "chair", "dining table", "suitcase", "bicycle"],
        min_length=1,
        description="detector classes that count as occupying the road (vendor, stall furniture, goods)",
    )
    min_confidence: float = Field(0.35, ge=0, le=1)
    dwell_s: float = Field(300.0, gt=0, description="seconds in the zone before a start event")
    update_every_s: float = Field(120.0, gt=0, description="least seconds between update events")
    leave_after_s: float = Field(30.0, gt=0, description="seconds unseen in the zone before an end event")


class RoadOccupationAnalytic:
    def __init__(self, camera_id: str, config: RoadOccupationRuleConfig, zones: list[Zone]) -> None:
        self.config = config
        policy = DwellPolicy(
            classes=tuple(config.classes),
            min_confidence=config.min_confidence,
            dwell_s=config.dwell_s,
            update_every_s=config.update_every_s,
            leave_after_s=config.leave_after_s,
            schedule=config.schedule,
            grace_s=config.grace_s,
        )
        self.dwell = ZoneDwell(camera_id, "occupation", policy, zones)

    def observe(self, frame: FrameContext) -> list[Finding]:
        return [
            Finding.from_dwell(
                e,
                kind=KIND,
                subtype=SUBTYPE,
                measurements={"dwell_s": e.dwell_s},
                label=f"{e.class_name} {e.phase} {e.dwell_s:.0f}s track {e.track_id}",
            )
            for e in self.dwell.observe(frame.mono, frame.detections, frame.wh, frame.ts)
        ]

    def open_keys(self) -> list[str]:
        return self.dwell.open_keys()
