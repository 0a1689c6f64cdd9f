"""Illegal parking: a vehicle whose ground point stays in a no-parking zone for `dwell_s` or longer.

Pure state machine over (time, tracked detections): no clock, video or I/O, so it is tested with synthetic
detections. Per (zone, track): `start` once dwell >= threshold, `update` at most every `update_every_s` with the
grown dwell, `end` once the vehicle has not been seen in the zone for `leave_after_s` (which also rides out
short detector misses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.detections import Detections
from edge_agent.plates.options import PlateOptions
from edge_agent.zones import Zone, anchors_normalised

KIND = "illegal_parking"
SUBTYPE = "no_parking_zone"


class ParkingRuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["parking"]
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "parking.no_parking"
    version: int = Field(1, ge=1)
    zones: list[str] = Field(min_length=1, description="ids of the no-parking zones this rule watches")
    classes: list[str] = Field(["car", "truck", "bus", "motorcycle"], min_length=1)
    min_confidence: float = Field(0.35, ge=0, le=1)
    dwell_s: float = Field(60.0, gt=0, description="seconds in the zone before a start event")
    update_every_s: float = Field(30.0, gt=0, description="least seconds between update events")
    leave_after_s: float = Field(5.0, gt=0, description="seconds unseen in the zone before an end event")
    plates: PlateOptions = Field(PlateOptions(), description="read the plate onto start events; blur plates")


@dataclass(frozen=True, slots=True)
class ParkingEvent:
    phase: Literal["start", "update", "end"]
    zone_id: str
    track_id: int
    incident_key: str
    dwell_s: float
    xyxy: tuple[float, float, float, float]
    """Last box of the vehicle in frame pixels."""
    confidence: float
    class_name: str


@dataclass(slots=True)
class _Stay:
    first_seen: float
    last_seen: float
    xyxy: tuple[float, float, float, float]
    confidence: float
    class_name: str
    started: bool = False
    last_report: float = 0.0


class ParkingAnalytic:
    def __init__(self, camera_id: str, config: ParkingRuleConfig, zones: list[Zone]) -> None:
        self.camera_id = camera_id
        self.config = config
        self.zones = zones
        self.classes = frozenset(config.classes)
        self._stays: dict[tuple[str, int], _Stay] = {}

    def observe(self, now: float, detections: Detections, frame_wh: tuple[int, int]) -> list[ParkingEvent]:
        """Feed one analysed frame (`now` monotonic seconds, detections carrying tracker ids)."""
        if detections.tracker_id is None:
            raise ValueError("parking needs tracked detections (tracker_id is None)")
        cfg = self.config
        eligible = detections[detections.class_mask(self.classes) & (detections.confidence >= cfg.min_confidence)]
        anchors = anchors_normalised(eligible, frame_wh)
        names = eligible.names()
        events: list[ParkingEvent] = []
        for zone in self.zones:
            for i in np.nonzero(zone.contains(anchors))[0]:
                key = (zone.id, int(eligible.tracker_id[i]))
                box = tuple(float(v) for v in eligible.xyxy[i])
                stay = self._stays.get(key)
                if stay is None:
                    stay = self._stays[key] = _Stay(now, now, box, float(eligible.confidence[i]), names[i])
                stay.last_seen, stay.xyxy = now, box
                stay.confidence, stay.class_name = float(eligible.confidence[i]), names[i]
                dwell = now - stay.first_seen
                if not stay.started and dwell >= cfg.dwell_s:
                    stay.started, stay.last_report = True, now
                    events.append(self._event("start", key, stay, dwell))
                elif stay.started and now - stay.last_report >= cfg.update_every_s:
                    stay.last_report = now
                    events.append(self._event("update", key, stay, dwell))
        for key, stay in list(self._stays.items()):
            if now - stay.last_seen > cfg.leave_after_s:
                del self._stays[key]
                if stay.started:
                    events.append(self._event("end", key, stay, stay.last_seen - stay.first_seen))
        return events

    def open_keys(self) -> list[str]:
        """Incident keys of stays that produced a start and no end yet."""
        return [self._key(k) for k, s in self._stays.items() if s.started]

    def _key(self, key: tuple[str, int]) -> str:
        return f"{self.camera_id}/{key[0]}/track-{key[1]}"

    def _event(self, phase: Literal["start", "update", "end"], key: tuple[str, int], stay: _Stay, dwell: float):
        return ParkingEvent(
            phase=phase,
            zone_id=key[0],
            track_id=key[1],
            incident_key=self._key(key),
            dwell_s=round(dwell, 1),
            xyxy=stay.xyxy,
            confidence=round(stay.confidence, 3),
            class_name=stay.class_name,
        )
