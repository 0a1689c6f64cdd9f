"""The parking dwell state machine, generalised: any tracked object that stays in a zone for a threshold.

`ParkingAnalytic` already does the hard part (per zone and track: start at the threshold, rate-limited updates,
an end once the object has been gone for a grace period, short detector misses ridden out). Road occupation
(a vendor standing in a no-vending zone) and kitchen person checks (a person without a hat for N seconds) are
the same machine fed with different objects, so they drive it through this adapter instead of copying it.
The adapter only scopes incident keys (`cam/zone/<scope>/track-N`) so two analytics watching the same zone and
track never share an incident. Time windows (`DwellPolicy.schedule`, `grace_s`) work as in parking.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from edge_agent.analytics.parking import EndReason, ParkingAnalytic, ParkingEvent, ParkingRuleConfig
from edge_agent.analytics.schedule import Schedule
from edge_agent.detections import Detections
from edge_agent.zones import Zone


@dataclass(frozen=True, slots=True)
class DwellPolicy:
    classes: tuple[str, ...]
    min_confidence: float
    dwell_s: float
    update_every_s: float
    leave_after_s: float
    schedule: Schedule | None = None
    """Count stays only inside these windows; None = always."""
    grace_s: float = 0.0
    occlusion_hold_s: float = 0.0
    """Keep an unseen stay this long before its end (0: `leave_after_s` alone decides), as in parking."""
    same_place_iou: float = 1.0
    """Least IoU with a stay's box for another track id to continue it; 1 = by track id only (people move, so
    place says little about who a person is; a stall's place is what identifies it)."""


class ZoneDwell:
    def __init__(self, camera_id: str, scope: str, policy: DwellPolicy, zones: list[Zone]) -> None:
        if not scope or "/" in scope:
            raise ValueError(f"dwell scope must be a non-empty name without '/', got {scope!r}")
        self.camera_id = camera_id
        self.scope = scope
        # The parking rule type is only the carrier of the thresholds here; its id/version are never reported.
        carrier = ParkingRuleConfig(
            type="parking",
            zones=[z.id for z in zones],
            classes=list(policy.classes),
            min_confidence=policy.min_confidence,
            dwell_s=policy.dwell_s,
            update_every_s=policy.update_every_s,
            leave_after_s=policy.leave_after_s,
            occlusion_hold_s=policy.occlusion_hold_s,
            same_place_iou=policy.same_place_iou,
            **_window_fields(policy),
        )
        self._machine = ParkingAnalytic(camera_id, carrier, zones)

    def observe(
        self, now: float, detections: Detections, frame_wh: tuple[int, int], wall: datetime | None = None
    ) -> list[ParkingEvent]:
        """Same contract as `ParkingAnalytic.observe`; incident keys come back scoped."""
        events = self._machine.observe(now, detections, frame_wh, wall)
        return [replace(e, incident_key=self.key(e.zone_id, e.track_id)) for e in events]

    def close(self, now: float, reason: EndReason) -> list[ParkingEvent]:
        """End every open stay (see `ParkingAnalytic.close`); incident keys come back scoped."""
        return [replace(e, incident_key=self.key(e.zone_id, e.track_id)) for e in self._machine.close(now, reason)]

    def key(self, zone_id: str, track_id: int) -> str:
        return f"{self.camera_id}/{zone_id}/{self.scope}/track-{track_id}"

    def open_keys(self) -> list[str]:
        prefix = f"{self.camera_id}/"
        return [f"{prefix}{_insert_scope(k[len(prefix) :], self.scope)}" for k in self._machine.open_keys()]


def _insert_scope(zone_and_track: str, scope: str) -> str:
    zone, _, track = zone_and_track.rpartition("/")
    return f"{zone}/{scope}/{track}"


def _window_fields(policy: DwellPolicy) -> dict[str, Any]:
    """The carrier rule's window fields; none at all without a schedule (the rule refuses stray ones)."""
    if policy.schedule is None:
        return {}
    sched = policy.schedule
    return {"windows": sched.windows, "timezone": sched.timezone, "holidays": sched.holidays, "grace_s": policy.grace_s}
