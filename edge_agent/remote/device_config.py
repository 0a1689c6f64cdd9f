"""The device configuration the hub publishes (retained `config` topic) and its validation.

Payload (protocol v1 fixes only `version`):

    {"version": 7,
     "cameras": [{"camera_id": "cam-demo-01",
                  "version": 4, "zones": [...], "analytics": [...]},        # same schema as rules/edge/*.yaml
                 {"camera_id": "cam-new", "source": "rtsp://10.0.0.7/main",  # a camera to add, with its rules
                  "name": "Gate", "location": {"lon": 118.79, "lat": 32.06}, "fps": 2,
                  "version": 1, "zones": [...], "analytics": [...]}]}

A camera listed replaces its rules; a camera not listed keeps them. A camera the device does not have yet is added
when its entry carries a `source` (syntax checked, and a file must exist); without one it is an error, as is a
`source` that differs from the one a camera already runs. The whole payload is validated (schema, cameras, class
names the loaded model has) before anything is applied, so a bad config changes nothing.

`RemoteCameraRules` is also the source of the JSON Schema the hub and the browser validate with
(`python -m edge_agent.remote.schema --write`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from edge_agent.capture.sources import SourceError, open_source
from edge_agent.config import ConfigError, LocationConfig, StrictModel, format_validation_error
from edge_agent.rules import CameraRules

# rtsp(s)://, http(s)://, usb:N, gst:PIPELINE, or an absolute file path (a relative one has nothing to be relative to).
SOURCE_PATTERN = r"^(rtsps?://|https?://|usb:[0-9]+$|gst:|/)"
CAMERA_FIELDS = frozenset({"source", "name", "location", "fps"})  # what adds a camera, beside its rules


class RemoteCameraRules(CameraRules):
    """One camera of the hub's `config`: its rules, and for a camera to add, where to read it from."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # name, location and fps describe a camera being added, so they come with its source.
        json_schema_extra={"dependentRequired": {f: ["source"] for f in sorted(CAMERA_FIELDS - {"source"})}},
    )

    camera_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    source: str | None = Field(
        None,
        min_length=2,
        max_length=2048,
        pattern=SOURCE_PATTERN,
        description="adds a camera the device does not have yet: rtsp://, http(s)://, usb:N, gst:... or an "
        "absolute path of a video file or picture on the device",
    )
    name: str | None = Field(None, min_length=1, max_length=200, description="a readable name of an added camera")
    location: LocationConfig | None = Field(None, description="where an added camera looks (events' location)")
    fps: float | None = Field(None, gt=0, le=60, description="frames an added camera analyses per second (default 2)")

    @model_validator(mode="after")
    def _camera_fields_need_source(self) -> RemoteCameraRules:
        given = sorted(f for f in CAMERA_FIELDS - {"source"} if getattr(self, f) is not None)
        if given and self.source is None:
            raise ValueError(f"{', '.join(given)} describe a camera to add and need its source")
        return self

    def rules(self) -> CameraRules:
        return CameraRules.model_validate(self.model_dump(exclude={"camera_id", *CAMERA_FIELDS}))

    def camera(self) -> dict:
        """The camera part of the entry (camera_id, source and the optional name, location, fps), as JSON."""
        return self.model_dump(mode="json", include={"camera_id", *CAMERA_FIELDS}, exclude_none=True)


class RemoteConfig(StrictModel):
    version: int = Field(ge=0)
    cameras: list[RemoteCameraRules] = Field(default_factory=list)

    @field_validator("cameras")
    @classmethod
    def _unique(cls, cameras: list[RemoteCameraRules]) -> list[RemoteCameraRules]:
        ids = [c.camera_id for c in cameras]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"camera_id must be unique; repeated: {', '.join(repeated)}")
        return cameras


@dataclass(frozen=True, slots=True)
class RemotePlan:
    """A validated `config`: its version, the new rules of every camera listed, and the cameras to add."""

    version: int
    rules: dict[str, CameraRules]
    new_cameras: dict[str, RemoteCameraRules]


def check_source(source: str, where: str) -> None:
    """The agent's own check of a source (a missing file, a bad usb:N, a pipeline without appsink); opens nothing."""
    try:
        open_source(source)
    except SourceError as exc:
        raise ConfigError(f"{where}.source: {exc}") from None


def plan_remote_config(payload: bytes, running: Mapping[str, str], model_classes: tuple[str, ...]) -> RemotePlan:
    """Validate a `config` payload for a device running the cameras `running` (camera_id -> source).
    Raises ConfigError naming the field; checks everything before the caller changes anything."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise ConfigError(f"config: not valid JSON: {exc}") from None
    try:
        config = RemoteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error("config", exc)) from None
    rules: dict[str, CameraRules] = {}
    new: dict[str, RemoteCameraRules] = {}
    for n, camera in enumerate(config.cameras):
        where, cid = f"config: cameras[{n}]", camera.camera_id
        if cid in running:
            # Never echo sources in errors: an RTSP URL may carry the camera's password.
            if camera.source is not None and camera.source != running[cid]:
                raise ConfigError(
                    f"{where}.source: camera {cid!r} already runs another source; a running camera's source "
                    "cannot be changed remotely (leave `source` out to change only its rules)"
                )
        elif camera.source is None:
            raise ConfigError(
                f"{where}.camera_id: {cid!r} is not a camera of this device "
                f"(cameras: {', '.join(sorted(running))}); give its `source` to add it"
            )
        else:
            check_source(camera.source, where)
            new[cid] = camera
        camera_rules = camera.rules()
        camera_rules.check_classes(model_classes, where)
        rules[cid] = camera_rules
    return RemotePlan(config.version, rules, new)
