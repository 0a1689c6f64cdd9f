"""The labelled set's file format: clips (real, composed or synthetic footage), their rules, and the events that
should come out of them. Validated with pydantic so a bad file names its problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.integrity.config import IntegrityConfig
from edge_agent.rules import CameraRules


class LabelsError(ValueError):
    """The labels file cannot be used; the message names the clip and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paste(_Strict):
    """A real crop of the source picture pasted elsewhere in it from `from_s` to `to_s` (an arrival and departure)."""

    crop: tuple[int, int, int, int] = Field(description="x1, y1, x2, y2 pixels in the source picture")
    at: tuple[int, int] = Field(description="top-left pixel where the crop is pasted")
    from_s: float = Field(ge=0)
    to_s: float = Field(gt=0)


class Fault(_Strict):
    """A camera fault injected into the footage from `from_s` to `to_s`."""

    type: Literal["covered", "defocused", "moved", "frozen"]
    from_s: float = Field(ge=0)
    to_s: float = Field(gt=0)


class LabelledEvent(_Strict):
    """One event that should be raised: `start` is when it should alarm, `end` when it should end (seconds of
    video time). `zone` for zone analytics; `subtype` for camera_fault (a camera-wide analytic)."""

    analytic: str = Field(min_length=1, description="the event kind: illegal_parking, camera_fault, ...")
    zone: str | None = None
    subtype: str | None = None
    start: float = Field(ge=0)
    end: float = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> LabelledEvent:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def key(self) -> str | None:
        """What must agree besides the analytic: the zone, or for camera faults the fault's subtype."""
        return self.subtype if self.analytic == "camera_fault" else self.zone


class Clip(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: Literal["real", "composed", "synthetic"] = Field(
        description="real: the clip as shot; composed: made from real pictures; synthetic: generated scenes"
    )
    source: str = Field(min_length=1, description="file name under the media folder (../shared/media)")
    provenance: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    description: str = ""
    ci: bool = Field(False, description="part of the short set the CI test replays")
    fps: float = Field(2.0, gt=0, le=30, description="frames fed to the pipeline per second of video time")
    duration_s: float = Field(gt=0, le=3600)
    source_fps: float | None = Field(None, gt=0, description="playback rate of a video or gif (looped); None: a still")
    pastes: list[Paste] = []
    faults: list[Fault] = []
    rules: CameraRules
    integrity: IntegrityConfig = IntegrityConfig()
    events: list[LabelledEvent] = []
    labelled: list[str] | None = Field(
        None, description="the analytics (event kinds) labelled in this clip; None: every one; others are not scored"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Clip:
        for what, spans in (("paste", self.pastes), ("fault", self.faults)):
            for span in spans:
                if not span.from_s < span.to_s <= self.duration_s:
                    raise ValueError(f"{what} {span.from_s}..{span.to_s} s must lie within 0..{self.duration_s} s")
        if self.pastes and self.source_fps is not None:
            raise ValueError("pastes are made on a still picture (source_fps must be empty)")
        if self.labelled is not None:
            unlisted = sorted({e.analytic for e in self.events} - set(self.labelled))
            if unlisted:
                raise ValueError(f"events of {unlisted} are given but not in labelled {self.labelled}")
        zones = {z.id for z in self.rules.zones}
        for event in self.events:
            if event.end > self.duration_s:
                raise ValueError(f"event end {event.end} is after the clip's end {self.duration_s}")
            if event.analytic != "camera_fault" and event.zone not in zones:
                raise ValueError(f"event zone {event.zone!r} is not one of the rules' zones {sorted(zones)}")
        return self


class LabelSet(_Strict):
    version: Literal[1]
    tolerance_s: float = Field(3.0, ge=0, description="a prediction matches a label overlapping it widened by this")
    model: str = Field("yolox_nano", description="detector from models/manifest.yaml")
    clips: list[Clip] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> LabelSet:
        ids = [c.id for c in self.clips]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"clip ids must be unique; repeated: {', '.join(repeated)}")
        return self


def _where(error: dict[str, Any], raw: Any) -> str:
    parts = []
    node = raw
    for loc in error["loc"]:
        if isinstance(loc, int) and isinstance(node, list) and loc < len(node):
            node = node[loc]
            parts.append(f"clip {node.get('id', loc)}" if isinstance(node, dict) and "id" in node else str(loc))
        else:
            node = node.get(loc) if isinstance(node, dict) else None
            parts.append(str(loc))
    return ".".join(parts)


def load_labels(path: Path) -> LabelSet:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise LabelsError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise LabelsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise LabelsError(f"{path}: expected a mapping with version, clips")
    # Top-level `x-...` keys hold YAML anchors shared by clips (as in docker-compose files); they are not labels.
    raw = {k: v for k, v in raw.items() if not str(k).startswith("x-")}
    try:
        return LabelSet.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_where(e, raw)}: {e['msg']}" for e in exc.errors())
        raise LabelsError(f"{path}: {problems}") from exc
