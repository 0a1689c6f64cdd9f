"""Merging one event into the incident of its situation. Pure: no database, no clock.

An incident is keyed by (device_id, incident_key). `start` or `update` with no open incident opens one (an
update whose start we never saw still means the situation exists); `update` refreshes measurements and
last_seen; `end` ends it. Events arriving after their incident ended but stamped before its end (a device
retransmitting out of order) are counted into that ended incident instead of opening a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from cityops.contract.messages import Event
from cloud_hub.incidents.severity import more_severe

# (kind, subtype, measurements) -> severity colour
Classifier = Callable[[str, str | None, Mapping[str, float]], str]


@dataclass(frozen=True, slots=True)
class Incident:
    device_id: str
    incident_key: str
    kind: str
    severity: str
    status: Literal["open", "ended", "closed"]
    first_event_id: str
    last_event_id: str
    first_seen: datetime
    last_seen: datetime
    id: int | None = None  # None until stored
    subtype: str | None = None
    camera_id: str | None = None
    zone_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    grid_id: str | None = None
    district: str | None = None
    evidence_event_id: str | None = None
    ended_at: datetime | None = None
    event_count: int = 1
    confidence: float | None = None
    measurements: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Merge:
    """What one event does: `open` a new incident, or `update` the given one (which may now be ended)."""

    action: Literal["open", "update"]
    incident: Incident
    ended_now: bool = False


def _max_conf(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def open_incident(device_id: str, event: Event, classify: Classifier) -> Incident:
    measurements = dict(event.measurements or {})
    ended = event.phase == "end"
    return Incident(
        device_id=device_id,
        incident_key=event.incident_key,
        kind=event.kind,
        subtype=event.subtype,
        severity=classify(event.kind, event.subtype, measurements),
        status="ended" if ended else "open",
        first_event_id=event.event_id,
        last_event_id=event.event_id,
        first_seen=event.ts,
        last_seen=event.ts,
        ended_at=event.ts if ended else None,
        camera_id=event.camera_id,
        zone_id=event.zone_id,
        lon=event.location.lon if event.location else None,
        lat=event.location.lat if event.location else None,
        evidence_event_id=event.event_id if event.evidence else None,
        confidence=event.confidence,
        measurements=measurements,
    )


def _absorb(current: Incident, event: Event, classify: Classifier) -> Incident:
    """Count the event into the incident; newer readings win, older ones only fill gaps."""
    incoming = dict(event.measurements or {})
    newer = event.ts >= current.last_seen
    measurements = {**current.measurements, **incoming} if newer else {**incoming, **current.measurements}
    severity = more_severe(current.severity, classify(current.kind, current.subtype, measurements))
    return replace(
        current,
        severity=severity,
        last_seen=max(current.last_seen, event.ts),
        last_event_id=event.event_id if newer else current.last_event_id,
        event_count=current.event_count + 1,
        confidence=_max_conf(current.confidence, event.confidence),
        measurements=measurements,
        evidence_event_id=current.evidence_event_id or (event.event_id if event.evidence else None),
        lon=current.lon if current.lon is not None else (event.location.lon if event.location else None),
        lat=current.lat if current.lat is not None else (event.location.lat if event.location else None),
        zone_id=current.zone_id or event.zone_id,
        camera_id=current.camera_id or event.camera_id,
    )


def merge(current: Incident | None, device_id: str, event: Event, classify: Classifier) -> Merge:
    """`current` is the open incident of the event's key, or else the most recent ended one, or None."""
    if current is not None and (current.device_id, current.incident_key) != (device_id, event.incident_key):
        raise ValueError("merge: event and incident belong to different situations")
    if current is None:
        return Merge("open", open_incident(device_id, event, classify))
    if current.status == "open":
        updated = _absorb(current, event, classify)
        if event.phase == "end":
            return Merge("update", replace(updated, status="ended", ended_at=event.ts), ended_now=True)
        return Merge("update", updated)
    # The latest incident of this key has ended (or was closed).
    late = current.ended_at is not None and event.ts <= current.ended_at
    if late or event.phase == "end":
        return Merge("update", _absorb(current, event, classify))
    return Merge("open", open_incident(device_id, event, classify))
