"""Merging one event into the incident of its situation. Pure: no database, no clock.

An incident is keyed by (device_id, incident_key) (other keys may join it by place: `cloud_hub.incidents.nearby`).
`start` or `update` with no open incident opens one (an update whose start we never saw still means the situation
exists); `update` refreshes measurements and last_seen; `end` ends it. Events arriving after their incident ended
but stamped before its end (a device retransmitting out of order) are counted into that ended incident instead of
opening a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    bbox: Sequence[float] | None = None  # the object's first box in its camera (normalised x1, y1, x2, y2)
    source_count: int = 1  # sources (device_id, incident_key) feeding it; above 1 see incident_sources


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
        bbox=tuple(event.bbox) if event.bbox else None,
    )


def absorb_all(current: Incident, events: Sequence[Event], classify: Classifier) -> Incident:
    """Count events into the incident one after another, in the given order; newer readings win, older ones only
    fill gaps. Folds a whole run into ONE new Incident (no intermediate objects: ingest calls this for every
    run of updates of a situation in a batch), with exactly the result of absorbing the events one by one."""
    measurements: Mapping[str, float] = current.measurements
    severity, last_seen, last_event_id = current.severity, current.last_seen, current.last_event_id
    confidence, evidence_event_id = current.confidence, current.evidence_event_id
    lon, lat, zone_id, camera_id = current.lon, current.lat, current.zone_id, current.camera_id
    classified: Mapping[str, float] | None = None  # the readings last classified: the same ones give the same colour
    for event in events:
        incoming = event.measurements or {}
        newer = event.ts >= last_seen
        measurements = {**measurements, **incoming} if newer else {**incoming, **measurements}
        if classified is None or measurements != classified:
            severity = more_severe(severity, classify(current.kind, current.subtype, measurements))
            classified = measurements
        if newer:
            last_seen, last_event_id = event.ts, event.event_id
        if event.confidence is not None:
            confidence = _max_conf(confidence, event.confidence)
        if evidence_event_id is None and event.evidence:
            evidence_event_id = event.event_id
        if event.location is not None:
            lon = lon if lon is not None else event.location.lon
            lat = lat if lat is not None else event.location.lat
        zone_id = zone_id or event.zone_id
        camera_id = camera_id or event.camera_id
    # The constructor, not dataclasses.replace: replace() walks the fields generically, ~2x slower per incident.
    return Incident(
        device_id=current.device_id,
        incident_key=current.incident_key,
        kind=current.kind,
        severity=severity,
        status=current.status,
        first_event_id=current.first_event_id,
        last_event_id=last_event_id,
        first_seen=current.first_seen,
        last_seen=last_seen,
        id=current.id,
        subtype=current.subtype,
        camera_id=camera_id,
        zone_id=zone_id,
        lon=lon,
        lat=lat,
        grid_id=current.grid_id,
        district=current.district,
        evidence_event_id=evidence_event_id,
        ended_at=current.ended_at,
        event_count=current.event_count + len(events),
        confidence=confidence,
        measurements=dict(measurements),
        bbox=current.bbox,
        source_count=current.source_count,
    )


def _absorb(current: Incident, event: Event, classify: Classifier) -> Incident:
    return absorb_all(current, (event,), classify)


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
