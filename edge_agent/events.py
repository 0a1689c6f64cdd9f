"""Protocol v1 event payloads built from analytic decisions (pure: no clock, no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cityops.contract.messages import format_ts
from edge_agent.analytics.parking import KIND, SUBTYPE, ParkingEvent, ParkingRuleConfig
from edge_agent.config import LocationConfig
from edge_agent.models.manifest import ModelSpec


def normalised_bbox(xyxy: tuple[float, float, float, float], frame_wh: tuple[int, int]) -> list[float]:
    w, h = frame_wh
    x1, y1, x2, y2 = xyxy
    return [round(min(max(v, 0.0), 1.0), 4) for v in (x1 / w, y1 / h, x2 / w, y2 / h)]


def parking_event_payload(
    decision: ParkingEvent,
    *,
    event_id: str,
    camera_id: str,
    frame_ts: datetime,
    frame_wh: tuple[int, int],
    location: LocationConfig | None,
    rule: ParkingRuleConfig,
    model: ModelSpec,
) -> dict[str, Any]:
    """Every field of the event except `seq` (the outbox assigns it) and `evidence` (added once rendered).

    `ts` is the frame's time less the decision's `ago_s`: an end decided after an occlusion hold is dated at the
    vehicle's last sighting."""
    event: dict[str, Any] = {
        "event_id": event_id,
        "ts": format_ts(frame_ts - timedelta(seconds=decision.ago_s)),
        "camera_id": camera_id,
        "kind": KIND,
        "subtype": SUBTYPE,
        "phase": decision.phase,
        "incident_key": decision.incident_key,
        "confidence": decision.confidence,
        "zone_id": decision.zone_id,
        "bbox": normalised_bbox(decision.xyxy, frame_wh),
        "track_id": decision.track_id,
        "measurements": {"dwell_s": decision.dwell_s},
        "model": {"name": model.name, "version": model.version, "sha256": model.sha256},
        "rule": {"id": rule.id, "version": rule.version},
        "object_class": decision.class_name,
    }
    if decision.end_reason is not None:  # an optional event field, e.g. "left" or "window_closed"
        event["end_reason"] = decision.end_reason
    if len(decision.object_classes) > 1:  # the detector called this vehicle by more than one class
        event["object_classes"] = list(decision.object_classes)
    if location is not None:
        event["location"] = {"lon": location.lon, "lat": location.lat}
    return event
