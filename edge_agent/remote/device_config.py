"""The device configuration the hub publishes (retained `config` topic) and its validation.

Payload (protocol v1 fixes only `version`):

    {"version": 7,
     "cameras": [{"camera_id": "cam-demo-01",
                  "version": 4, "zones": [...], "analytics": [...]}]}   # same schema as rules/edge/*.yaml

A camera listed replaces its rules file's rules; a camera not listed keeps them. The whole payload is validated
(schema, known cameras, class names the loaded model has) before anything is applied, so a bad config changes
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated

from pydantic import ConfigDict, Field, ValidationError, field_validator

from edge_agent.config import ConfigError, StrictModel, format_validation_error
from edge_agent.rules import CameraRules


class RemoteCameraRules(CameraRules):
    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]

    def rules(self) -> CameraRules:
        return CameraRules.model_validate(self.model_dump(exclude={"camera_id"}))


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


def parse_remote_config(
    payload: bytes, camera_ids: Iterable[str], model_classes: tuple[str, ...]
) -> tuple[int, dict[str, CameraRules]]:
    """Validate a `config` payload for this device: (version, camera_id -> new rules). Raises ConfigError."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise ConfigError(f"config: not valid JSON: {exc}") from None
    try:
        config = RemoteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error("config", exc)) from None
    known = set(camera_ids)
    rules: dict[str, CameraRules] = {}
    for n, camera in enumerate(config.cameras):
        if camera.camera_id not in known:
            raise ConfigError(
                f"config: cameras[{n}].camera_id: {camera.camera_id!r} is not a camera of this device "
                f"(cameras: {', '.join(sorted(known))})"
            )
        camera_rules = camera.rules()
        camera_rules.check_classes(model_classes, f"config: cameras[{n}]")
        rules[camera.camera_id] = camera_rules
    return config.version, rules
