"""Illegal parking: a vehicle whose ground point stays in a no-parking zone for `dwell_s` or longer.

Pure state machine over (time, tracked detections): no clock, video or I/O, so it is tested with synthetic
detections. Per (zone, track): `start` once dwell >= threshold, `update` at most every `update_every_s` with the
grown dwell, `end` once the vehicle has not been seen in the zone for `leave_after_s` (which also rides out
short detector misses).

With time `windows` (no parking 07:00-19:00 on working days) only time inside a window, `grace_s` after its
opening, counts: a car parked at 06:50 counts from 07:00 (+ grace), so a 300 s threshold fires at 07:05. An open
stay gets an `end` (`end_reason: window_closed`) on the first frame after the window closes; a vehicle still
there counts afresh at the next opening. Durations use the monotonic clock; only the window test and the start
of counting use the frame's wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import numpy as np
from pydantic import ConfigDict, Field

from edge_agent.analytics.schedule import Schedule, TimeWindowedRule
from edge_agent.detections import Detections
from edge_agent.plates.options import PlateOptions
from edge_agent.zones import Zone, anchors_normalised

KIND = "illegal_parking"
SUBTYPE = "no_parking_zone"
EndReason = Literal["left", "window_closed"]


class ParkingRuleConfig(TimeWindowedRule):
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
    end_reason: EndReason | None = None
    """Set on `end` events: the vehicle `left`, or the time `window_closed` on it."""


@dataclass(slots=True)
class _Stay:
    first_seen: float
    last_seen: float
    xyxy: tuple[float, float, float, float]
    confidence: float
    class_name: str
    counted_from: float | None = None
    """Monotonic time the dwell counts from; None while outside the time windows."""
    started: bool = False
    last_report: float = 0.0


class ParkingAnalytic:
    def __init__(self, camera_id: str, config: ParkingRuleConfig, zones: list[Zone]) -> None:
        self.camera_id = camera_id
        self.config = config
        self.zones = zones
        self.classes = frozenset(config.classes)
        self.schedule: Schedule | None = config.schedule
        self._stays: dict[tuple[str, int], _Stay] = {}

    def observe(
        self, now: float, detections: Detections, frame_wh: tuple[int, int], wall: datetime | None = None
    ) -> list[ParkingEvent]:
        """Feed one analysed frame: `now` monotonic seconds, detections carrying tracker ids, `wall` the frame's
        timezone-aware capture time (required when the rule has time windows)."""
        if detections.tracker_id is None:
            raise ValueError("parking needs tracked detections (tracker_id is None)")
        cfg = self.config
        counting_since = self._counting_since(now, wall)
        eligible = detections[detections.class_mask(self.classes) & (detections.confidence >= cfg.min_confidence)]
        anchors = anchors_normalised(eligible, frame_wh)
        names = eligible.names()
        events: list[ParkingEvent] = []
        if counting_since is None:  # the window just closed on open stays: end them, keep watching the vehicles
            for key, stay in self._stays.items():
                if stay.started:
                    events.append(self._event("end", key, stay, stay.last_seen - stay.counted_from, "window_closed"))
                stay.counted_from, stay.started = None, False
        for zone in self.zones:
            for i in np.nonzero(zone.contains(anchors))[0]:
                key = (zone.id, int(eligible.tracker_id[i]))
                box = tuple(float(v) for v in eligible.xyxy[i])
                stay = self._stays.get(key)
                if stay is None:
                    stay = self._stays[key] = _Stay(now, now, box, float(eligible.confidence[i]), names[i])
                stay.last_seen, stay.xyxy = now, box
                stay.confidence, stay.class_name = float(eligible.confidence[i]), names[i]
                if counting_since is None:
                    continue
                if stay.counted_from is None:
                    stay.counted_from = max(stay.first_seen, counting_since)
                dwell = now - stay.counted_from
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
                    events.append(self._event("end", key, stay, stay.last_seen - stay.counted_from, "left"))
        return events

    def _counting_since(self, now: float, wall: datetime | None) -> float | None:
        """Monotonic time from which stays count in this frame (-inf: always), or None outside the windows.

        The window's opening (+ grace) is turned into monotonic time through this frame's pair of clocks, so a
        car already there counts from the exact opening even when frames are sparse.
        """
        if self.schedule is None:
            return float("-inf")
        if wall is None:
            raise ValueError(f"parking rule {self.config.id} has time windows: observe needs the frame's wall time")
        opened = self.schedule.opened_at(wall)
        if opened is None:
            return None
        since_open = (wall - opened).total_seconds() - self.config.grace_s
        return None if since_open < 0 else now - since_open

    def open_keys(self) -> list[str]:
        """Incident keys of stays that produced a start and no end yet."""
        return [self._key(k) for k, s in self._stays.items() if s.started]

    def _key(self, key: tuple[str, int]) -> str:
        return f"{self.camera_id}/{key[0]}/track-{key[1]}"

    def _event(
        self,
        phase: Literal["start", "update", "end"],
        key: tuple[str, int],
        stay: _Stay,
        dwell: float,
        end_reason: EndReason | None = None,
    ) -> ParkingEvent:
        return ParkingEvent(
            phase=phase,
            zone_id=key[0],
            track_id=key[1],
            incident_key=self._key(key),
            dwell_s=round(dwell, 1),
            xyxy=stay.xyxy,
            confidence=round(stay.confidence, 3),
            class_name=stay.class_name,
            end_reason=end_reason,
        )
