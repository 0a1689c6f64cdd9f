"""Road occupation (street vending): a stall staying in a no-vending zone past a threshold.

What counts: the detector's objects of the rule's `classes` (vendor, stall furniture, goods) whose ground point
(bottom centre of the box) is in the zone are grouped into occupations: two objects whose boxes come within
`cluster_gap` box heights of each other belong to the same one, so an umbrella over a table with two chairs and
the vendor is one occupation, not five incidents. A group is a stall only with evidence of one: at least one object
of `stall_classes` (umbrella, table, goods). People alone, or people resting on a bench or on chairs, are not
vending and never start anything.

Each stall is one object for the dwell machine (`ZoneDwell`, the parking machine): its box is the union of its
members, its identity the track id of its oldest stall object, and a stall whose objects get new track ids
continues by place (its box), as a parked car does. Optional time `windows` (e.g. vending banned only in
market-free hours) count stays as in parking.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from edge_agent.analytics.finding import Finding, FrameContext
from edge_agent.analytics.parking import EndReason, ParkingEvent
from edge_agent.analytics.schedule import TimeWindowedRule
from edge_agent.analytics.zone_dwell import DwellPolicy, ZoneDwell
from edge_agent.detections import Detections
from edge_agent.tracking.iou import box_iou
from edge_agent.zones import Zone, anchors_normalised

KIND = "road_occupation"
SUBTYPE = "street_vending"
STALL_PLACE_IOU = 0.3
"""A stall's box grows and shrinks as the vendor and customers step in and out: a looser place match than a car's."""


class RoadOccupationRuleConfig(TimeWindowedRule):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["road_occupation"]
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "road_occupation.no_vending"
    version: int = Field(1, ge=1)
    zones: list[str] = Field(min_length=1, description="ids of the no-vending zones this rule watches")
    classes: list[str] = Field(
        ["person", "umbrella", "chair", "dining table", "suitcase", "bicycle"],
        min_length=1,
        description="detector classes that can be part of an occupation (vendor, stall furniture, goods)",
    )
    stall_classes: list[str] = Field(
        ["umbrella", "dining table", "suitcase"],
        min_length=1,
        description="classes that are evidence of a stall: a group of objects is an occupation only with one of "
        "these (people, chairs or a bench alone are not vending); each must also be in classes",
    )
    cluster_gap: float = Field(
        0.5, ge=0, description="objects whose boxes are within this many box heights of each other are one stall"
    )
    min_confidence: float = Field(0.35, ge=0, le=1)
    dwell_s: float = Field(300.0, gt=0, description="seconds in the zone before a start event")
    update_every_s: float = Field(120.0, gt=0, description="least seconds between update events")
    leave_after_s: float = Field(30.0, gt=0, description="seconds unseen in the zone before an end event")

    @model_validator(mode="after")
    def _stall_classes_counted(self) -> RoadOccupationRuleConfig:
        stray = [c for c in self.stall_classes if c not in self.classes]
        if stray:
            raise ValueError(f"stall_classes {stray} are not in classes {self.classes}; add them there")
        return self


class RoadOccupationAnalytic:
    def __init__(self, camera_id: str, config: RoadOccupationRuleConfig, zones: list[Zone]) -> None:
        self.config = config
        self.classes = frozenset(config.classes)
        self.stall_classes = frozenset(config.stall_classes)
        policy = DwellPolicy(
            classes=tuple(config.stall_classes),
            min_confidence=config.min_confidence,
            dwell_s=config.dwell_s,
            update_every_s=config.update_every_s,
            leave_after_s=config.leave_after_s,
            schedule=config.schedule,
            grace_s=config.grace_s,
            same_place_iou=STALL_PLACE_IOU,
        )
        # One machine per zone: a stall is grouped within one zone, and its key names that zone.
        self.zones = zones
        self.dwell = {z.id: ZoneDwell(camera_id, "occupation", policy, [z]) for z in zones}

    def observe(self, frame: FrameContext) -> list[Finding]:
        d = frame.detections
        eligible = d[d.class_mask(self.classes) & (d.confidence >= self.config.min_confidence)]
        anchors = anchors_normalised(eligible, frame.wh)
        findings = []
        for zone in self.zones:
            members = eligible[zone.contains(anchors)]
            stalls, contents = stalls_of(members, self.stall_classes, self.config.cluster_gap)
            events = self.dwell[zone.id].observe(frame.mono, stalls, frame.wh, frame.ts)
            findings += [self._finding(e, stalls, contents) for e in events]
        return findings

    def close(self, now: float, reason: EndReason) -> list[Finding]:
        """End every open occupation (rules changed, agent stopping)."""
        return [self._finding(e, None, []) for dwell in self.dwell.values() for e in dwell.close(now, reason)]

    def open_keys(self) -> list[str]:
        return [k for dwell in self.dwell.values() for k in dwell.open_keys()]

    def _finding(self, e: ParkingEvent, stalls: Detections | None, contents: list[Counter[str]]) -> Finding:
        objects = _contents_at(e.xyxy, stalls, contents)
        measurements = {"dwell_s": e.dwell_s}
        if objects:
            measurements["count"] = float(sum(objects.values()))
        what = ", ".join(f"{n} {c}" if n > 1 else c for c, n in sorted(objects.items())) or e.class_name
        return Finding.from_dwell(
            e,
            kind=KIND,
            subtype=SUBTYPE,
            measurements=measurements,
            label=f"stall ({what}) {e.phase} {e.dwell_s:.0f}s",
            extra={"objects": dict(sorted(objects.items()))} if objects else None,
        )


def stalls_of(members: Detections, stall_classes: frozenset[str], gap: float) -> tuple[Detections, list[Counter]]:
    """Group tracked objects into stalls: (one detection per stall, the class counts of each).

    A stall's detection has the union box of its members, the class and score of its best stall object, and the
    track id of its oldest (lowest id) stall object. Groups without a stall object are dropped.
    """
    assert members.tracker_id is not None
    n = len(members)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    boxes = members.xyxy
    heights = boxes[:, 3] - boxes[:, 1]
    for a in range(n):
        for b in range(a + 1, n):
            dx = max(0.0, float(max(boxes[a, 0], boxes[b, 0]) - min(boxes[a, 2], boxes[b, 2])))
            dy = max(0.0, float(max(boxes[a, 1], boxes[b, 1]) - min(boxes[a, 3], boxes[b, 3])))
            if np.hypot(dx, dy) <= gap * (heights[a] + heights[b]) / 2:
                parent[root(a)] = root(b)
    names = members.names()
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    rows, contents = [], []
    for group in groups.values():
        stall = [i for i in group if names[i] in stall_classes]
        if not stall:
            continue
        best = max(stall, key=lambda i: float(members.confidence[i]))
        oldest = min(stall, key=lambda i: int(members.tracker_id[i]))  # type: ignore[index]
        g = boxes[group]
        union = [g[:, 0].min(), g[:, 1].min(), g[:, 2].max(), g[:, 3].max()]
        rows.append((union, members.confidence[best], members.class_id[best], members.tracker_id[oldest]))
        contents.append(Counter(names[i] for i in group))
    if not rows:
        empty = Detections.empty(members.class_names)
        return empty.with_tracker_ids(empty.class_id), []
    box, score, cls, tid = zip(*rows, strict=True)
    return Detections.from_arrays(box, score, cls, members.class_names, tracker_id=tid), contents


def _contents_at(xyxy: tuple[float, ...], stalls: Detections | None, contents: list[Counter]) -> Counter[str]:
    """What the stall at `xyxy` is made of in this frame (none when it was not seen in it)."""
    if stalls is None or not len(stalls):
        return Counter()
    iou = box_iou(np.array([xyxy], np.float32), stalls.xyxy)[0]
    best = int(iou.argmax())
    return contents[best] if iou[best] >= STALL_PLACE_IOU else Counter()
