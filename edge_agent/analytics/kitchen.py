"""Kitchen violations: checks on people in kitchen zones during business hours, and rodents.

- People (class role `person`) standing in a kitchen zone during business hours are checked for: `phone` (a phone
  at hands or head), `smoking` (a cigarette/smoking detection there), `no_hat` (no hat detection on the head; or,
  when the model has no hat class and `hat_heuristic` is on, no white region on the head, flagged as a heuristic),
  `no_mask` (no mask on the head), and direct `no_hat`/`no_mask` classes of models that detect the violation.
  Each check must hold for `persist_s` before a `start`, reusing the parking dwell machine per person track.
- Rodents: a `rodent`-role class (e.g. `rat`) at any hour, and after hours small moving blobs in the floor zones
  (background subtraction), which must persist `persist_frames` analysed frames.
Class names are mapped to roles in the rule (`class_roles`), so a customer's custom-class model plugs in without
code changes. COCO's `mouse` is a computer mouse: never map it to `rodent` for a COCO model. A rule that lists its
`checks` is refused when one of them has no role mapped (nor a heuristic for it), instead of the check being
skipped; without `checks`, the mapped roles decide which run, and the start-up log says which are off and why.

Every event says how it was decided (`method`: `model` or `heuristic`) and what that way of deciding has been
validated on (`validated_on`), because no licensed kitchen footage exists here (see the README).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge_agent.analytics import kitchen_match as match
from edge_agent.analytics.finding import Finding, FrameContext, episode_stamp
from edge_agent.analytics.motion import ALGORITHM as MOTION_ALGORITHM
from edge_agent.analytics.motion import MotionBlobDetector, MotionParams
from edge_agent.analytics.schedule import Schedule, WeeklyWindow, check_timezone
from edge_agent.analytics.zone_dwell import DwellPolicy, ZoneDwell
from edge_agent.detections import Detections
from edge_agent.zones import Zone, anchors_normalised

log = logging.getLogger(__name__)

KIND = "kitchen_violation"
Role = Literal["person", "hat", "mask", "phone", "smoking", "rodent", "no_hat", "no_mask"]
Check = Literal["phone", "smoking", "no_hat", "no_mask", "rodent"]
# The roles that let a check decide from the detector's classes (any one of them).
CHECK_ROLES: dict[str, tuple[Role, ...]] = {
    "phone": ("phone",),
    "smoking": ("smoking",),
    "no_hat": ("hat", "no_hat"),
    "no_mask": ("mask", "no_mask"),
    "rodent": ("rodent",),
}
# What each way of deciding has been validated on (README: "What is validated on real footage"). Carried by every
# event so that a reviewer of one event can weigh it without reading the docs.
VALIDATED_ON = {
    "phone": "REAL: one COCO photo (val2017 #1268) with YOLOX-Nano; no kitchen footage",
    "no_hat_heuristic": "SYNTHETIC scenes only (white-hat head colour; no kitchen footage)",
    "rodent_motion": "SYNTHETIC scenes only (after-hours motion blobs; no kitchen footage)",
}
SYNTHETIC_DETECTIONS = "SYNTHETIC detections only (no kitchen footage; the model's accuracy is its trainer's)"
# Business hours are the shared weekly windows (same `{days, start, end}` format; overnight when end < start).
BusinessHours = WeeklyWindow


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RodentMotionConfig(_Strict):
    zones: list[str] = Field(min_length=1, description="floor zones watched after hours")
    min_area: float = Field(0.0004, gt=0, lt=1, description="smallest blob, fraction of the frame area")
    max_area: float = Field(0.02, gt=0, lt=1, description="largest blob, fraction of the frame area")
    persist_frames: int = Field(3, ge=1, description="consecutive analysed frames with a blob before a start")
    clear_s: float = Field(20.0, gt=0, description="seconds without a blob before an end")
    warmup_frames: int = Field(10, ge=1)
    history: int = Field(100, ge=10)
    var_threshold: float = Field(25.0, gt=0)

    @model_validator(mode="after")
    def _areas(self) -> RodentMotionConfig:
        if self.min_area >= self.max_area:
            raise ValueError("rodent_motion.min_area must be below max_area")
        return self


class KitchenRuleConfig(_Strict):
    type: Literal["kitchen"]
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "kitchen.hygiene"
    version: int = Field(1, ge=1)
    zones: list[str] = Field(min_length=1, description="kitchen zones where people are checked")
    class_roles: dict[str, Role] = Field(
        {"person": "person", "cell phone": "phone"}, description="model class name -> role, e.g. chef_hat: hat"
    )
    min_confidence: float = Field(0.35, ge=0, le=1, description="for persons")
    object_min_confidence: float = Field(0.1, ge=0, le=1, description="for small objects: phones, hats, masks")
    timezone: str = Field("UTC", description="IANA zone of the business hours, e.g. Asia/Shanghai")
    business_hours: list[BusinessHours] = Field([BusinessHours()], min_length=1)
    persist_s: float = Field(5.0, gt=0, description="seconds a violation must hold before a start")
    update_every_s: float = Field(60.0, gt=0)
    clear_s: float = Field(10.0, gt=0, description="seconds a violation must be gone before an end")
    hat_heuristic: bool = Field(False, description="white-head-region fallback when no class has the hat role")
    hat_white_fraction: float = Field(0.3, gt=0, le=1)
    rodent_motion: RodentMotionConfig | None = None
    checks: list[Check] | None = Field(
        None,
        description="the checks this rule runs, each refused unless its role is mapped (or its heuristic on); "
        "default: every check whose role is mapped",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return check_timezone(name)

    @model_validator(mode="after")
    def _has_people(self) -> KitchenRuleConfig:
        if "person" not in self.class_roles.values():
            raise ValueError("class_roles must map at least one class to the role 'person'")
        for check in self.checks or []:
            missing = self.missing_for(check)
            if missing:
                raise ValueError(f"checks: {check!r} cannot run: {missing}")
        return self

    def missing_for(self, check: str) -> str | None:
        """Why `check` cannot run with this rule (no class mapped to its role, and no heuristic), or None."""
        roles = CHECK_ROLES[check]
        if any(self.classes_of(role) for role in roles):
            return None
        if check == "no_hat" and self.hat_heuristic:
            return None
        if check == "rodent" and self.rodent_motion is not None:
            return None
        wanted = " or ".join(repr(r) for r in roles)
        fallback = {"no_hat": " (or hat_heuristic: true)", "rodent": " (or rodent_motion)"}.get(check, "")
        return f"no class of the model is mapped to the role {wanted} in class_roles{fallback}"

    @property
    def classes(self) -> list[str]:
        return list(self.class_roles)

    @property
    def zone_refs(self) -> list[str]:
        """Every zone id this rule names (kitchen zones and floor zones)."""
        floor = self.rodent_motion.zones if self.rodent_motion else []
        return list(dict.fromkeys([*self.zones, *floor]))

    @property
    def confidence_floor(self) -> float:
        return min(self.min_confidence, self.object_min_confidence)

    def runs(self, check: str) -> bool:
        """Is `check` wanted (listed in `checks`, or no list) and able to run?"""
        return (self.checks is None or check in self.checks) and self.missing_for(check) is None

    def classes_of(self, role: Role) -> frozenset[str]:
        return frozenset(name for name, r in self.class_roles.items() if r == role)


class _RodentWatch:
    """After-hours motion episode of one floor zone."""

    def __init__(self, detector: MotionBlobDetector) -> None:
        self.detector = detector
        self.streak = 0
        self.last_blob = 0.0
        self.last_report = 0.0
        self.key: str | None = None


class KitchenAnalytic:
    def __init__(self, camera_id: str, config: KitchenRuleConfig, zones: dict[str, Zone]) -> None:
        self.camera_id = camera_id
        self.config = config
        self.zones = zones
        self.hours = Schedule(timezone=config.timezone, windows=config.business_hours)
        self.kitchen_zones = kitchen_zones = [zones[z] for z in config.zones]
        people = tuple(config.classes_of("person"))
        # Evidence checks (a phone seen) must hold persist_s in the dwell machine; absence checks (no hat seen)
        # are timed here, per track since its last good sighting, and start in the machine at once.
        seen_policy = DwellPolicy(
            people, config.min_confidence, config.persist_s, config.update_every_s, config.clear_s
        )
        absent_policy = DwellPolicy(people, config.min_confidence, 1e-3, config.update_every_s, config.clear_s)
        self.checks: dict[str, ZoneDwell] = {
            subtype: ZoneDwell(
                camera_id, subtype, absent_policy if self._absence_based(subtype) else seen_policy, kitchen_zones
            )
            for subtype in self._subtypes()
        }
        self._last_ok: dict[tuple[str, int], float] = {}
        self.rodent_class = None
        if config.classes_of("rodent") and config.runs("rodent"):
            floor = [zones[z] for z in (config.rodent_motion.zones if config.rodent_motion else config.zones)]
            policy = DwellPolicy(
                tuple(config.classes_of("rodent")),
                config.object_min_confidence,
                config.persist_s,
                config.update_every_s,
                config.clear_s,
            )
            self.rodent_class = ZoneDwell(camera_id, "rodent", policy, floor)
        self._watches: dict[str, _RodentWatch] = {}
        self._frame_wh: tuple[int, int] | None = None
        self._log_checks()

    def _subtypes(self) -> list[str]:
        return [check for check in ("phone", "smoking", "no_hat", "no_mask") if self.config.runs(check)]

    def _provenance(self, subtype: str) -> dict[str, str]:
        """`method` and `validated_on` of a check decided from the detector (or, for no_hat, maybe by heuristic)."""
        if subtype == "no_hat" and self._hat_by_heuristic:
            return {"method": "heuristic", "heuristic": "white_head_colour", **_validated("no_hat_heuristic")}
        return {"method": "model", "validated_on": VALIDATED_ON.get(subtype, SYNTHETIC_DETECTIONS)}

    def _log_checks(self) -> None:
        cfg = self.config
        running = [f"{s} (heuristic)" if s == "no_hat" and self._hat_by_heuristic else s for s in self.checks]
        if self.rodent_class is not None:
            running.append("rodent")
        if cfg.rodent_motion is not None and cfg.runs("rodent"):
            running.append("rodent (after-hours motion heuristic)")
        off = [f"{c}: {cfg.missing_for(c) or 'not listed in checks'}" for c in CHECK_ROLES if not cfg.runs(c)]
        log.info(
            "camera %s rule %s: kitchen checks %s; off: %s",
            self.camera_id,
            cfg.id,
            ", ".join(running) or "none",
            "; ".join(off) or "none",
        )

    def is_open(self, ts: datetime) -> bool:
        return self.hours.active(ts)

    def observe(self, frame: FrameContext) -> list[Finding]:
        if frame.detections.tracker_id is None:
            raise ValueError("kitchen checks need tracked detections (tracker_id is None)")
        open_now = self.is_open(frame.ts)
        persons = self._of_role(frame.detections, "person", self.config.min_confidence)
        anchors = anchors_normalised(persons, frame.wh)
        in_kitchen = (
            float(np.any([z.contains(anchors) for z in self.kitchen_zones], axis=0).sum()) if len(persons) else 0.0
        )
        findings: list[Finding] = []
        for subtype, dwell in self.checks.items():
            # Closed: nobody violates, so open violations end after clear_s.
            violating = np.zeros(len(persons), bool)
            if open_now and len(persons):
                violating = self._violating(subtype, persons, frame)
                if self._absence_based(subtype):
                    violating = self._absent_for_long(subtype, persons, ~violating, frame.mono)
            for e in dwell.observe(frame.mono, persons[violating], frame.wh):
                duration = e.dwell_s + (self.config.persist_s if self._absence_based(subtype) else 0.0)
                findings.append(
                    Finding.from_dwell(
                        e,
                        kind=KIND,
                        subtype=subtype,
                        measurements={"duration_s": round(duration, 1), "count": in_kitchen},
                        label=f"{subtype} {e.phase} {duration:.0f}s track {e.track_id}",
                        extra=self._provenance(subtype),
                    )
                )
        if self.rodent_class is not None:
            for e in self.rodent_class.observe(frame.mono, frame.detections, frame.wh):
                findings.append(
                    Finding.from_dwell(
                        e,
                        kind=KIND,
                        subtype="rodent",
                        measurements={"duration_s": e.dwell_s},
                        label=f"{e.class_name} {e.phase}",
                        extra=self._provenance("rodent"),
                    )
                )
        if self.config.rodent_motion is not None and self.config.runs("rodent"):
            findings.extend(self._observe_motion(frame, after_hours=not open_now))
        return findings

    def _absence_based(self, subtype: str) -> bool:
        """no_hat / no_mask decided by a missing hat / mask (rather than by a direct no_hat / no_mask class)."""
        if subtype == "no_hat":
            return bool(self.config.classes_of("hat")) or self._hat_by_heuristic
        return subtype == "no_mask" and bool(self.config.classes_of("mask"))

    def _absent_for_long(self, subtype: str, persons: Detections, ok: np.ndarray, now: float) -> np.ndarray:
        """(N,) bool: the person's head has not shown the item for persist_s (a first sighting counts as good)."""
        flagged = np.zeros(len(persons), bool)
        for i, track in enumerate(persons.tracker_id):
            key = (subtype, int(track))
            if ok[i] or key not in self._last_ok:
                self._last_ok[key] = now
            flagged[i] = now - self._last_ok[key] >= self.config.persist_s
        # Forget tracks gone longer than any check could still need them.
        horizon = self.config.persist_s + self.config.clear_s
        seen = {int(t) for t in persons.tracker_id}
        for key, last in list(self._last_ok.items()):
            if key[0] == subtype and key[1] not in seen and now - last > horizon:
                del self._last_ok[key]
        return flagged

    @property
    def _hat_by_heuristic(self) -> bool:
        cfg = self.config
        return cfg.hat_heuristic and not cfg.classes_of("hat") and not cfg.classes_of("no_hat")

    def _of_role(self, detections: Detections, role: Role, min_confidence: float) -> Detections:
        names = self.config.classes_of(role)
        return detections[detections.class_mask(names) & (detections.confidence >= min_confidence)]

    def _violating(self, subtype: str, persons: Detections, frame: FrameContext) -> np.ndarray:
        """(N,) bool per person: does this check fail for them in this frame?"""
        if len(persons) == 0:
            return np.zeros(0, bool)
        floor = self.config.object_min_confidence

        def near(role: Role, regions: np.ndarray) -> np.ndarray:
            return match.centres_in_regions(regions, self._of_role(frame.detections, role, floor).xyxy)

        heads = match.head_regions(persons.xyxy)
        if subtype in ("phone", "smoking"):
            return near(subtype, match.reach_regions(persons.xyxy))
        if subtype == "no_hat":
            if self.config.classes_of("no_hat") and not self.config.classes_of("hat"):
                return near("no_hat", heads)
            if self._hat_by_heuristic:
                scores = [match.white_hat_score(frame.image, box) for box in persons.xyxy]
                return np.asarray(scores) < self.config.hat_white_fraction
            return ~near("hat", heads) | near("no_hat", heads)
        if subtype == "no_mask":
            if not self.config.classes_of("mask"):
                return near("no_mask", heads)
            return ~near("mask", heads) | near("no_mask", heads)
        raise ValueError(f"unknown kitchen check {subtype!r}")

    def _observe_motion(self, frame: FrameContext, after_hours: bool) -> list[Finding]:
        motion = self.config.rodent_motion
        if self._frame_wh != frame.wh:  # masks follow the stream's resolution
            self._frame_wh = frame.wh
            self._watches = {z: _RodentWatch(self._motion_detector(self.zones[z], frame.wh)) for z in motion.zones}
        findings = []
        for zone_id, watch in self._watches.items():
            blobs = watch.detector.update(frame.image)  # always learning, so the background is current at closing
            seen = bool(blobs) and after_hours
            watch.streak = watch.streak + 1 if seen else 0
            if seen:
                watch.last_blob = frame.mono
            phase = None
            if watch.key is None and watch.streak >= motion.persist_frames:
                phase = "start"
                watch.key = f"{self.camera_id}/{zone_id}/rodent-motion/{episode_stamp(frame.ts)}"
            elif watch.key is not None and frame.mono - watch.last_blob >= motion.clear_s:
                phase = "end"
            elif watch.key is not None and seen and frame.mono - watch.last_report >= self.config.update_every_s:
                phase = "update"
            if phase is None:
                continue
            watch.last_report = frame.mono
            box = _union(blobs) if blobs else None
            findings.append(
                Finding(
                    kind=KIND,
                    subtype="rodent",
                    phase=phase,
                    incident_key=watch.key,
                    confidence=0.5,
                    measurements={"blobs": float(len(blobs or []))},
                    label=f"motion after hours {phase}",
                    zone_id=zone_id,
                    xyxy=box,
                    algorithm=MOTION_ALGORITHM,
                    extra={"method": "heuristic", "heuristic": "after_hours_motion", **_validated("rodent_motion")},
                )
            )
            if phase == "end":
                watch.key = None
        return findings

    def _motion_detector(self, zone: Zone, wh: tuple[int, int]) -> MotionBlobDetector:
        motion = self.config.rodent_motion
        mask = np.zeros((wh[1], wh[0]), np.uint8)
        cv2.fillPoly(mask, [zone.pixel_polygon(wh)], 1)
        frame_area = wh[0] * wh[1]
        params = MotionParams(
            min_area_px=max(1, round(motion.min_area * frame_area)),
            max_area_px=max(2, round(motion.max_area * frame_area)),
            history=motion.history,
            var_threshold=motion.var_threshold,
            warmup_frames=motion.warmup_frames,
        )
        return MotionBlobDetector(mask.astype(bool), params)

    def open_keys(self) -> list[str]:
        keys = [k for d in self.checks.values() for k in d.open_keys()]
        if self.rodent_class is not None:
            keys += self.rodent_class.open_keys()
        return keys + [w.key for w in self._watches.values() if w.key]


def _validated(key: str) -> dict[str, str]:
    return {"validated_on": VALIDATED_ON[key]}


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    a = np.asarray(boxes)
    return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max())
