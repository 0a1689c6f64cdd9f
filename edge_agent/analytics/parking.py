"""Illegal parking: a vehicle whose ground point stays in a no-parking zone for `dwell_s` or longer.

Pure state machine over (time, tracked detections): no clock, video or I/O, so it is tested with synthetic
detections. One stay per vehicle and zone: `start` once dwell >= threshold, `update` at most every `update_every_s`
with the grown dwell, one `end` when it is over.

A stay is the vehicle's *place* (its box when last seen by its own track) as well as its track id: a detection of
any track id that overlaps the place by `same_place_iou` continues it, so a detector id switch or a car re-found
after an occlusion under a new id keeps its original start and dwell. A stay nobody sees is held for
`occlusion_hold_s` (a bus parked in front of the car, a passer-by), and only then ends (`end_reason: left`),
dated at the last sighting (`ParkingEvent.ago_s`). When the stay's own track is seen driving off (outside the
zone), nothing is hidden: it ends after the short `leave_after_s` instead.

With time `windows` (no parking 07:00-19:00 on working days) only time inside a window, `grace_s` after its
opening, counts: a car parked at 06:50 counts from 07:00 (+ grace), so a 300 s threshold fires at 07:05. An open
stay gets an `end` (`end_reason: window_closed`) on the first frame after the window closes; a vehicle still
there counts afresh at the next opening. Durations use the monotonic clock; only the window test and the start
of counting use the frame's wall-clock time.

`close(now, reason)` ends every open stay at once (rules changed, agent stopping), so none is left open at the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

import numpy as np
from pydantic import ConfigDict, Field

from edge_agent.analytics.schedule import Schedule, TimeWindowedRule
from edge_agent.detections import Detections
from edge_agent.plates.options import PlateOptions
from edge_agent.tracking.iou import box_iou
from edge_agent.zones import Zone, anchors_normalised

KIND = "illegal_parking"
SUBTYPE = "no_parking_zone"
EndReason = Literal["left", "window_closed", "rules_changed", "agent_stopped", "pipeline_restarted"]
"""Why a stay ended: the vehicle `left`, the time `window_closed` on it, or the agent closed it because its rules
changed (`rules_changed`), it is stopping (`agent_stopped`) or the camera's pipeline was restarted by command."""

Box = tuple[float, float, float, float]


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
    leave_after_s: float = Field(
        5.0, gt=0, description="seconds before an end once the vehicle's own track is seen outside the zone"
    )
    occlusion_hold_s: float = Field(
        90.0,
        ge=0,
        description="seconds a stay nobody sees is held (hidden by a bus or a passer-by) before it ends as `left`, "
        "dated at its last sighting; never shorter than leave_after_s",
    )
    same_place_iou: float = Field(
        0.5,
        gt=0,
        le=1,
        description="least IoU with a stay's box for a detection of any track id to continue that stay "
        "(id switches, a vehicle re-found after an occlusion); 1 = by track id only",
    )
    merge_iou: float = Field(
        0.7,
        gt=0,
        le=1,
        description="detections of this rule's classes overlapping this much are one vehicle (a van reported as "
        "both car and truck); merged before tracking, keeping the higher score",
    )
    plates: PlateOptions = Field(PlateOptions(), description="read the plate onto start events; blur plates")


@dataclass(frozen=True, slots=True)
class ParkingEvent:
    phase: Literal["start", "update", "end"]
    zone_id: str
    track_id: int
    """The track the stay began with (its incident key names it), even when another id continues it."""
    incident_key: str
    dwell_s: float
    xyxy: Box
    """Last box of the vehicle in frame pixels."""
    confidence: float
    class_name: str
    end_reason: EndReason | None = None
    """Set on `end` events (see `EndReason`)."""
    ago_s: float = 0.0
    """How long before the frame that produced it the event happened: an `end` after an occlusion hold is dated
    at the vehicle's last sighting, not at the frame that gave up waiting."""
    object_classes: tuple[str, ...] = ()
    """Every class the detector gave this vehicle during the stay (car and truck for one van), sorted."""


@dataclass(slots=True)
class _Stay:
    track_id: int
    first_seen: float
    last_seen: float
    xyxy: Box
    confidence: float
    class_name: str
    classes: set[str] = field(default_factory=set)
    counted_from: float | None = None
    """Monotonic time the dwell counts from; None while outside the time windows."""
    started: bool = False
    last_report: float = 0.0
    departed: bool = False
    """Its own track was seen outside the zone since it was last seen inside: it drove off, nothing hides it."""


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
        assert eligible.tracker_id is not None
        anchors = anchors_normalised(eligible, frame_wh)
        names = eligible.names()
        also = eligible.merged_names()
        events: list[ParkingEvent] = []
        if counting_since is None:  # the window just closed on open stays: end them, keep watching the vehicles
            for key, stay in self._stays.items():
                if stay.started:
                    events.append(self._event("end", key, stay, self._final_dwell(stay), "window_closed"))
                stay.counted_from, stay.started = None, False
        seen_ids = {int(i) for i in eligible.tracker_id}
        refreshed: set[tuple[str, int]] = set()
        for zone in self.zones:
            inside = np.nonzero(zone.contains(anchors))[0]
            for key, i in self._match(zone.id, eligible, inside):
                box = tuple(float(v) for v in eligible.xyxy[i])
                stay = self._stays.get(key)
                if stay is None:
                    stay = self._stays[key] = _Stay(key[1], now, now, box, 0.0, names[i])
                if int(eligible.tracker_id[i]) == stay.track_id:
                    stay.xyxy = box  # only its own track moves the place; a passer-by must not drag it away
                stay.last_seen, stay.departed = now, False
                stay.confidence, stay.class_name = float(eligible.confidence[i]), names[i]
                stay.classes.update(c for c in (names[i], also[i]) if c)
                refreshed.add(key)
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
        hold = max(cfg.leave_after_s, cfg.occlusion_hold_s)
        for key, stay in list(self._stays.items()):
            if key not in refreshed and stay.track_id in seen_ids:
                stay.departed = True
            gone = now - stay.last_seen
            if gone > (cfg.leave_after_s if stay.departed else hold):
                del self._stays[key]
                if stay.started:
                    events.append(self._event("end", key, stay, self._final_dwell(stay), "left", ago_s=gone))
        return events

    def close(self, now: float, reason: EndReason) -> list[ParkingEvent]:
        """End every open stay now (rules replaced, agent stopping) and forget all stays; each `end` is dated at
        its vehicle's last sighting."""
        events = [
            self._event("end", key, stay, self._final_dwell(stay), reason, ago_s=max(now - stay.last_seen, 0.0))
            for key, stay in self._stays.items()
            if stay.started
        ]
        self._stays.clear()
        return events

    def _match(self, zone_id: str, eligible: Detections, inside: np.ndarray) -> list[tuple[tuple[str, int], int]]:
        """(stay key, detection index) pairs for one zone's detections: by the stay's own track id first, then by
        place (greedy, best overlap first) for stays not seen by their id; every other detection keys a new stay.
        Each stay takes at most one detection and each detection one stay."""
        assert eligible.tracker_id is not None
        pairs: list[tuple[tuple[str, int], int]] = []
        free: list[int] = []
        for i in inside:
            key = (zone_id, int(eligible.tracker_id[i]))
            if key in self._stays:
                pairs.append((key, int(i)))
            else:
                free.append(int(i))
        taken = {key for key, _ in pairs}
        waiting = [k for k in self._stays if k[0] == zone_id and k not in taken]
        if waiting and free and self.config.same_place_iou < 1:
            places = np.array([self._stays[k].xyxy for k in waiting], dtype=np.float32)
            iou = box_iou(places, eligible.xyxy[free])
            used: set[int] = set()
            for flat in np.argsort(-iou, axis=None, kind="stable"):
                si, dj = divmod(int(flat), len(free))
                if iou[si, dj] < self.config.same_place_iou:
                    break
                if waiting[si] in taken or dj in used:
                    continue
                taken.add(waiting[si])
                used.add(dj)
                pairs.append((waiting[si], free[dj]))
            free = [d for j, d in enumerate(free) if j not in used]
        pairs += [((zone_id, int(eligible.tracker_id[d])), d) for d in free]
        return pairs

    @staticmethod
    def _final_dwell(stay: _Stay) -> float:
        return stay.last_seen - (stay.counted_from if stay.counted_from is not None else stay.first_seen)

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
        ago_s: float = 0.0,
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
            ago_s=round(ago_s, 3),
            object_classes=tuple(sorted(stay.classes)),
        )
