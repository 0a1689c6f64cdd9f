"""The common shape of the non-parking analytics: one frame in (`FrameContext`), findings out (`Finding`).

Parking predates this and keeps its own event type; kitchen, waterlogging and road occupation all speak this one,
so the pipeline turns any of them into a protocol event with one function (`finding_payload`). Pure: no clock,
no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from cityops.contract.messages import format_ts
from edge_agent.detections import Detections

if TYPE_CHECKING:
    from edge_agent.analytics.parking import ParkingEvent

Phase = Literal["start", "update", "end"]
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class AlgorithmRef:
    """The 'model' of an event decided by image processing rather than a network (protocol `model` field).

    `sha256` is the hash of the source file that implements it, so an event names the exact code that decided it,
    as a detector event names the exact weights.
    """

    name: str
    version: str
    sha256: str | None = None

    @classmethod
    def of_module(cls, name: str, version: str, module_file: str) -> AlgorithmRef:
        return cls(name, version, hashlib.sha256(Path(module_file).read_bytes()).hexdigest())

    def ref(self) -> dict[str, Any]:
        ref: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.sha256:
            ref["sha256"] = self.sha256
        return ref


@dataclass(frozen=True, slots=True)
class FrameContext:
    """One analysed frame as the analytics see it.

    Attributes:
        mono: monotonic seconds (durations, dwell, trends).
        ts: capture time, timezone-aware (business hours, incident keys).
        image: HxWx3 BGR pixels; analytics must not modify them.
        detections: tracked detections (tracker_id set) of the classes the camera's rules asked for.
    """

    mono: float
    ts: datetime
    image: np.ndarray
    detections: Detections

    @property
    def wh(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


@dataclass(frozen=True, slots=True)
class Finding:
    """One event an analytic decided on, before ids, sequence numbers and evidence are attached."""

    kind: str
    subtype: str
    phase: Phase
    incident_key: str
    confidence: float
    measurements: dict[str, float]
    label: str
    """Short text drawn on the evidence picture."""
    zone_id: str | None = None
    xyxy: Box | None = None
    """The object or region in frame pixels; None = the whole frame."""
    track_id: int | None = None
    object_class: str | None = None
    algorithm: AlgorithmRef | None = None
    """Set when pixels, not the detector, decided; None = the camera's detector model produced it."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further optional event fields (kept by the hub as unknown fields), e.g. `severity_hint`, `method`."""
    ago_s: float = 0.0
    """How long before the frame the finding happened (an end after an occlusion hold: the last sighting)."""

    @classmethod
    def from_dwell(
        cls,
        e: ParkingEvent,
        *,
        kind: str,
        subtype: str,
        measurements: dict[str, float],
        label: str,
        extra: dict[str, Any] | None = None,
    ) -> Finding:
        """A finding from the dwell machinery's event (object, zone, track, box), with its `end_reason` if any."""
        fields = dict(extra or {})
        if e.end_reason:
            fields["end_reason"] = e.end_reason
        return cls(
            kind=kind,
            subtype=subtype,
            phase=e.phase,
            incident_key=e.incident_key,
            confidence=e.confidence,
            measurements=measurements,
            label=label,
            zone_id=e.zone_id,
            xyxy=e.xyxy,
            track_id=e.track_id,
            object_class=e.class_name,
            extra=fields,
            ago_s=e.ago_s,
        )


class SceneAnalytic(Protocol):
    """An analytic of the new family; `config` has at least `id`, `version`, `zones`, `classes`."""

    config: Any

    def observe(self, frame: FrameContext) -> list[Finding]: ...


def episode_stamp(ts: datetime) -> str:
    """Part of an incident key, so each episode (a new flood after the last one ended) is its own incident."""
    return ts.strftime("%Y%m%dT%H%M%SZ") if ts.utcoffset() == timedelta(0) else ts.isoformat(timespec="seconds")


def normalised_box(xyxy: Box, frame_wh: tuple[int, int]) -> list[float]:
    w, h = frame_wh
    x1, y1, x2, y2 = xyxy
    return [round(min(max(v, 0.0), 1.0), 4) for v in (x1 / w, y1 / h, x2 / w, y2 / h)]


def finding_payload(
    finding: Finding,
    *,
    event_id: str,
    camera_id: str,
    frame_ts: datetime,
    frame_wh: tuple[int, int],
    location: tuple[float, float] | None,
    rule_id: str,
    rule_version: int,
    detector_model: dict[str, Any],
) -> dict[str, Any]:
    """Every protocol field of the event except `seq` (the outbox assigns it) and `evidence` (added when rendered).

    `detector_model` is `{"name", "version", "sha256"}` of the camera's detector; it is the event's model unless
    the finding names the algorithm that decided it. `location` is (lon, lat) or None.
    """
    event: dict[str, Any] = {
        **finding.extra,
        "event_id": event_id,
        "ts": format_ts(frame_ts - timedelta(seconds=finding.ago_s)),
        "camera_id": camera_id,
        "kind": finding.kind,
        "subtype": finding.subtype,
        "phase": finding.phase,
        "incident_key": finding.incident_key,
        "confidence": round(min(max(finding.confidence, 0.0), 1.0), 3),
        "measurements": dict(finding.measurements),
        "model": finding.algorithm.ref() if finding.algorithm else dict(detector_model),
        "rule": {"id": rule_id, "version": rule_version},
    }
    if finding.zone_id is not None:
        event["zone_id"] = finding.zone_id
    if finding.xyxy is not None:
        event["bbox"] = normalised_box(finding.xyxy, frame_wh)
    if finding.track_id is not None:
        event["track_id"] = finding.track_id
    if finding.object_class is not None:
        event["object_class"] = finding.object_class
    if location is not None:
        event["location"] = {"lon": location[0], "lat": location[1]}
    return event
