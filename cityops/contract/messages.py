"""Payload models of protocol v1, shared by the edge agent (which builds them) and the hub (which validates them).

Unknown fields are kept, never an error (forward compatibility); required fields are exactly those the
protocol names. Policy checks that need a clock (future-dated, too old) live with the hub's validation.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

MAX_EVENT_BATCH_BYTES = 256 * 1024
MAX_EVENTS_PER_BATCH = 500
MAX_READINGS_PER_BATCH = 5000
# The hub's columns: `seq` is a bigint, `config_version` an integer; a larger number passed validation and then
# failed the database write (found by tests/fuzz), so it is refused here with the field named.
MAX_SEQ = 2**63 - 1
MAX_CONFIG_VERSION = 2**31 - 1

EVENTS_SCHEMA = "cityops.events/1"
TELEMETRY_SCHEMA = "cityops.telemetry/1"
HEALTH_SCHEMA = "cityops.health/1"

KNOWN_KINDS = ("kitchen_violation", "illegal_parking", "waterlogging", "road_occupation", "camera_fault")
Phase = Literal["start", "update", "end"]
# The form str(uuid.UUID(...)) produces; anything else (upper case, braces, urn:, no hyphens) is parsed.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a `Z`, as the protocol's examples write it."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def new_event_id(now_ms: int | None = None) -> str:
    """A UUIDv7 (time-ordered; RFC 9562): 48-bit ms timestamp, version 7, 74 random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def _require_utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError("timestamp has no time zone; RFC 3339 UTC such as 2026-11-22T18:31:05.123Z is required")
    return ts.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Location(_Message):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class ModelRef(_Message):
    name: str
    version: str | None = None
    sha256: str | None = None


class RuleRef(_Message):
    id: str
    version: int | str | None = None


class EvidenceRef(_Message):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str = "image/jpeg"
    bytes: int | None = Field(default=None, ge=0)


class EvidenceMissing(_Message):
    """An extension field (protocol v1 keeps unknown fields): the event was sent without its picture, and why.

    `reason`: `file_missing`, `file_changed`, `rejected` (the hub refused the upload for good), `upload_failed`
    (bounded retries ran out), `disk_low` (the box kept its disk for events), `not_rendered` (stopped first)."""

    reason: str = Field(min_length=1, max_length=64)
    detail: str = ""
    attempts: int = Field(default=0, ge=0)


class Event(_Message):
    event_id: str
    seq: int = Field(ge=1, le=MAX_SEQ)
    ts: UtcDatetime
    kind: str = Field(min_length=1, max_length=64)
    phase: Phase
    incident_key: str = Field(min_length=1, max_length=256)
    camera_id: str | None = None
    subtype: str | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    zone_id: str | None = None
    location: Location | None = None
    # Checked by pydantic-core itself (no Python call per event): four numbers, each normalised to 0..1.
    bbox: Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=4, max_length=4)] | None = None
    track_id: int | None = None
    measurements: dict[str, float] | None = None
    model: ModelRef | None = None
    rule: RuleRef | None = None
    evidence: EvidenceRef | None = None
    evidence_missing: EvidenceMissing | None = None

    @field_validator("event_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        # Fast path: edge agents send the canonical lowercase form, which uuid.UUID would return unchanged.
        if _CANONICAL_UUID.fullmatch(value):
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"event_id {value!r} is not a UUID") from None


class EventBatch(_Message):
    schema_: Literal["cityops.events/1"] = Field(default=EVENTS_SCHEMA, alias="schema")
    device_id: str
    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)
    """Kept as raw dicts so that one bad event can be dead-lettered without rejecting its neighbours."""


class Reading(_Message):
    sensor_id: str = Field(min_length=1, max_length=128)
    metric: str = Field(min_length=1, max_length=128)
    ts: UtcDatetime
    value: float


class TelemetryBatch(_Message):
    schema_: Literal["cityops.telemetry/1"] = Field(default=TELEMETRY_SCHEMA, alias="schema")
    device_id: str
    readings: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_READINGS_PER_BATCH)


class CameraHealth(_Message):
    camera_id: str
    status: str
    fps: float | None = None
    dropped_frames: int | None = None


class HealthSnapshot(_Message):
    schema_: Literal["cityops.health/1"] = Field(default=HEALTH_SCHEMA, alias="schema")
    device_id: str
    ts: UtcDatetime
    uptime_s: float | None = None
    agent_version: str | None = None
    config_version: int | None = Field(default=None, ge=0, le=MAX_CONFIG_VERSION)
    cameras: list[CameraHealth] = Field(default_factory=list)
    inference_ms_p50: float | None = None
    outbox_depth: int | None = None
    cpu_pct: float | None = None
    mem_mb: float | None = None
    gpu_temp_c: float | None = None
    models: list[ModelRef] = Field(default_factory=list)


class StateMessage(_Message):
    online: bool
    ts: UtcDatetime | None = None
    agent_version: str | None = None


class Ack(_Message):
    acked_seq: int = Field(ge=0)


class Command(_Message):
    cmd_id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class CommandResult(_Message):
    cmd_id: str
    ok: bool
    detail: str = ""


class DeviceConfig(_Message):
    """The device's full desired configuration; only `version` is fixed by the protocol."""

    version: int = Field(ge=0)


def dump(message: BaseModel) -> bytes:
    """Compact UTF-8 JSON as sent on the wire (aliases such as `schema`, no nulls)."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()
