"""Which open incident a starting situation joins, by kind, place and time (rules/hub/merge.yaml). Pure.

One flooded underpass seen by a camera and a water-level sensor, or one car seen by two cameras, is one incident
with several *sources* (device_id, incident_key). A source from a device and camera that does not feed the
incident yet joins when it is within `distance_m` and `window_s` of it. A camera that already feeds it is the
same object only when its new box overlaps the box it reported before (`same_source_min_iou`): the same parked
car after an edge restart (track ids never repeat, so its key is new) continues the incident and supersedes the
old key; another box in the same camera is another car and opens its own incident.

A merged incident ends when its last live source ends (`end_source`): the camera losing sight of the water does
not end what the gauge still measures.

Hub replicas that process two sources at once serialise on *place locks*: cells of about `distance_m` per kind,
a starting situation locking the 3x3 cells around it, so two within `distance_m` always share a cell
(`place_cells`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from cityops.contract.messages import Event
from cloud_hub.incidents.merge import Incident
from cloud_hub.rules.models import MergeRule

SourceStatus = Literal["live", "ended", "superseded"]
Key = tuple[str, str]  # (device_id, incident_key)

_M_PER_DEG_LAT = 111_320.0
_EARTH_RADIUS_M = 6_371_008.8
# Longitude cells as wide as `distance_m` up to 75 degrees of latitude (cos 75° = 0.26), one width everywhere, so
# that every replica computes the same cell for the same point. Places beyond 75° share wider cells (more waiting,
# never a missed merge within the supported range).
_LON_STRETCH = 1 / math.cos(math.radians(75))


@dataclass(frozen=True, slots=True)
class Source:
    device_id: str
    incident_key: str
    camera_id: str | None
    zone_id: str | None
    bbox: Sequence[float] | None
    status: SourceStatus = "live"

    @property
    def key(self) -> Key:
        return (self.device_id, self.incident_key)


def own_source(incident: Incident) -> Source:
    """The incident's first source, from its own columns (an incident fed by one source has no source rows)."""
    status: SourceStatus = "live" if incident.status == "open" else "ended"
    i = incident
    return Source(i.device_id, i.incident_key, i.camera_id, i.zone_id, i.bbox, status)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An incident a starting situation may join, with its sources (just `own_source` when it has one)."""

    incident: Incident
    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class Join:
    """The chosen candidate (its index), the live sources of the same camera the new key supersedes, and why."""

    index: int
    supersedes: tuple[Key, ...]
    distance_m: float
    continuation: bool  # the same camera's object under a new key (True) or another device/camera (False)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2); 0 for degenerate boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _steps_deg(distance: float) -> tuple[float, float]:
    lat_step = distance / _M_PER_DEG_LAT
    return lat_step * _LON_STRETCH, lat_step


def place_cells(kind: str, lon: float, lat: float, distance: float) -> list[tuple[str, int, int]]:
    """The 3x3 cells (kind, column, row) around a place, cells at least `distance` metres wide: two places within
    `distance` of each other always share a cell of their neighbourhoods."""
    lon_step, lat_step = _steps_deg(distance)
    col, row = math.floor(lon / lon_step), math.floor(lat / lat_step)
    return [(kind, col + dc, row + dr) for dc in (-1, 0, 1) for dr in (-1, 0, 1)]


def search_box(lon: float, lat: float, distance: float) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees that contains every point within `distance` metres (a prefilter)."""
    lat_step = distance / _M_PER_DEG_LAT
    lon_step = lat_step / max(math.cos(math.radians(min(abs(lat) + lat_step, 89.9))), 1e-6)
    return lon - lon_step, lat - lat_step, lon + lon_step, lat + lat_step


def _in_window(incident: Incident, ts: datetime, window_s: float) -> bool:
    window = timedelta(seconds=window_s)
    return incident.first_seen - window <= ts <= incident.last_seen + window


def choose(
    rule: MergeRule, device_id: str, event: Event, lon: float, lat: float, candidates: Sequence[Candidate]
) -> Join | None:
    """The incident the starting `event` (of `device_id`, at lon/lat) joins, or None to open its own.

    Preferred: the same camera's object again (best overlap), then the nearest, then the most recently seen."""
    best: tuple[tuple[float, ...], Join] | None = None
    for index, candidate in enumerate(candidates):
        incident = candidate.incident
        if incident.status != "open" or incident.kind != event.kind or incident.lon is None or incident.lat is None:
            continue
        metres = distance_m(lon, lat, incident.lon, incident.lat)
        if metres > rule.distance_m:
            continue
        same = [s for s in candidate.sources if (s.device_id, s.camera_id) == (device_id, event.camera_id)]
        if same:  # this camera already feeds the incident: only the same object (box) may continue it
            if not event.bbox:
                continue
            overlaps = [(iou(event.bbox, s.bbox), s) for s in same if s.bbox]
            matching = [(o, s) for o, s in overlaps if o >= rule.same_source_min_iou]
            if not matching:
                continue
            overlap = max(o for o, _ in matching)
            supersedes = tuple(sorted(s.key for _, s in matching if s.status == "live"))
            join = Join(index, supersedes, metres, continuation=True)
            rank: tuple[float, ...] = (0, -overlap, metres, -incident.last_seen.timestamp())
        else:
            if not _in_window(incident, event.ts, rule.window_s):
                continue
            join = Join(index, (), metres, continuation=False)
            rank = (1, 0.0, metres, -incident.last_seen.timestamp())
        if best is None or rank < best[0]:
            best = (rank, join)
    return best[1] if best else None


def joined(candidate: Candidate, device_id: str, event: Event, join: Join) -> tuple[Incident, tuple[Source, ...]]:
    """The incident and its sources once `event`'s key joined it (superseded keys marked). The event itself is
    absorbed by the caller (`merge.absorb_all`)."""
    superseded = set(join.supersedes)
    sources = tuple(replace(s, status="superseded") if s.key in superseded else s for s in candidate.sources)
    new = Source(device_id, event.incident_key, event.camera_id, event.zone_id, tuple(event.bbox or ()) or None)
    sources = (*sources, new)
    return replace(candidate.incident, source_count=len(sources)), sources


def end_source(sources: Iterable[Source], key: Key) -> tuple[tuple[Source, ...], bool]:
    """Mark `key`'s source ended; True when no live source is left (the incident ends with it)."""
    out = tuple(replace(s, status="ended") if s.key == key and s.status == "live" else s for s in sources)
    return out, not any(s.status == "live" for s in out)
