"""Pure validation of one device message: (topic, raw bytes, now) -> good items and dead letters with reasons.

No I/O. One bad event (or reading) in a batch dead-letters only itself; a message-level problem (not JSON,
unknown schema, wrong device, oversized, too many items) dead-letters the whole message.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from cityops.contract.messages import (
    EVENTS_SCHEMA,
    HEALTH_SCHEMA,
    MAX_EVENT_BATCH_BYTES,
    MAX_EVENTS_PER_BATCH,
    MAX_READINGS_PER_BATCH,
    TELEMETRY_SCHEMA,
    CommandResult,
    Event,
    HealthSnapshot,
    Reading,
    StateMessage,
)
from cityops.contract.topics import Topic, parse_topic


class Reason(StrEnum):
    """Dead-letter reasons; also the `reason` label of the dead-letter metric."""

    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    UNKNOWN_SCHEMA = "unknown_schema"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    OVERSIZED = "oversized"
    TS_IN_FUTURE = "ts_in_future"
    TS_TOO_OLD = "ts_too_old"
    DEVICE_MISMATCH = "device_mismatch"
    TOO_MANY_ITEMS = "too_many_items"
    UNKNOWN_TOPIC = "unknown_topic"
    STORE_REJECTED = "store_rejected"  # the database refused it (set by the writer, not here)
    STORE_FAILED = "store_failed"  # storing it raised something else, every retry (a bug or a poison message)


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    max_future_s: int = 300
    max_past_s: int = 30 * 24 * 3600
    max_event_bytes: int = MAX_EVENT_BATCH_BYTES
    max_telemetry_bytes: int = 1024 * 1024  # 5,000 readings of ~150 bytes
    max_other_bytes: int = 256 * 1024

    @classmethod
    def from_settings(cls, settings: Any) -> ValidationLimits:
        return cls(max_future_s=settings.max_future_s, max_past_s=settings.max_past_s)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    device_id: str | None
    reason: Reason
    detail: str  # names the field or the problem
    raw: bytes  # the whole message, or the one bad event / reading re-encoded
    clock_offset_s: float | None = None  # ts_in_future / ts_too_old: the device's clock against the hub's


@dataclass(frozen=True, slots=True)
class ValidEvent:
    device_id: str
    event: Event
    payload_json: str  # the event object as received, compact JSON for the jsonb column


@dataclass(slots=True)
class Validated:
    """Everything one message yielded; at most one of the item kinds is filled, per its topic."""

    topic: str
    device_id: str | None
    suffix: Topic | None
    received_at: datetime
    events: list[ValidEvent] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    health: HealthSnapshot | None = None
    health_json: str = ""
    state: StateMessage | None = None
    cmd_result: CommandResult | None = None
    cmd_result_json: str = ""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # Events the writer gave up on (kept in dead_letters with their raw bytes): the device's cursor moves past their
    # seqs, so one poison event does not hold back every later ack of its device.
    abandoned: list[ValidEvent] = field(default_factory=list)


class _Rejected(Exception):
    def __init__(self, reason: Reason, detail: str, clock_offset_s: float | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.clock_offset_s = clock_offset_s


def _refuse_constant(name: str) -> Any:
    # PostgreSQL jsonb cannot hold NaN or Infinity, so they are refused here with a clear reason.
    raise ValueError(f"non-standard JSON constant {name}")


_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _compact(obj: Any) -> str:
    # orjson: compact UTF-8 like json.dumps(separators=(",", ":"), ensure_ascii=False), ~10x faster per event.
    text = orjson.dumps(obj).decode()
    # jsonb refuses NUL characters; catch them here rather than failing the whole batch. Only an escape that no
    # backslash escapes: a string holding the six characters \u0000 is valid (hypothesis found it refused).
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise _Rejected(Reason.INVALID_FIELD, "a string contains a NUL character (\\u0000)")
    return text


def _pydantic_reason(exc: ValidationError, prefix: str) -> _Rejected:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in err["loc"])
    where = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
    if err["type"] == "missing":
        return _Rejected(Reason.MISSING_FIELD, f"{where}: required field is missing")
    return _Rejected(Reason.INVALID_FIELD, f"{where}: {err['msg']}")


def _model(model: type[BaseModel], obj: dict[str, Any], prefix: str) -> Any:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise _pydantic_reason(exc, prefix) from None


def _check_ts(ts: datetime, now: datetime, limits: ValidationLimits, where: str) -> None:
    # The offset rides along so the hub can flag the box's clock even when the protocol refuses its messages.
    offset = (ts - now).total_seconds()
    if ts > now + timedelta(seconds=limits.max_future_s):
        detail = f"{where}: {ts.isoformat()} is more than {limits.max_future_s} s ahead"
        raise _Rejected(Reason.TS_IN_FUTURE, detail, offset)
    if ts < now - timedelta(seconds=limits.max_past_s):
        raise _Rejected(Reason.TS_TOO_OLD, f"{where}: {ts.isoformat()} is more than {limits.max_past_s} s old", offset)


def _header(obj: dict[str, Any], schema: str, topic_device: str) -> None:
    """The batch-level fields every schema'd message carries: `schema` and a `device_id` matching the topic."""
    if "schema" not in obj:
        raise _Rejected(Reason.MISSING_FIELD, "schema: required field is missing")
    if obj["schema"] != schema:
        raise _Rejected(Reason.UNKNOWN_SCHEMA, f"schema: {obj['schema']!r} is not {schema!r}")
    if "device_id" not in obj:
        raise _Rejected(Reason.MISSING_FIELD, "device_id: required field is missing")
    if obj["device_id"] != topic_device:
        raise _Rejected(
            Reason.DEVICE_MISMATCH, f"device_id: {obj['device_id']!r} does not match the topic's {topic_device!r}"
        )


def _items(obj: dict[str, Any], key: str, maximum: int) -> list[Any]:
    if key not in obj:
        raise _Rejected(Reason.MISSING_FIELD, f"{key}: required field is missing")
    items = obj[key]
    if not isinstance(items, list) or not items:
        raise _Rejected(Reason.INVALID_FIELD, f"{key}: must be a non-empty list")
    if len(items) > maximum:
        raise _Rejected(Reason.TOO_MANY_ITEMS, f"{key}: {len(items)} items, at most {maximum} per message")
    return items


def _each(out: Validated, items: list[Any], key: str, check: Any, now: datetime, limits: ValidationLimits) -> list[Any]:
    """Validate items one by one; each bad one becomes its own dead letter."""
    good = []
    for index, item in enumerate(items):
        where = f"{key}[{index}]"
        try:
            if not isinstance(item, dict):
                raise _Rejected(Reason.NOT_OBJECT, f"{where}: is not a JSON object")
            good.append(check(item, where, now, limits))
        except _Rejected as rej:
            raw = orjson.dumps(item)
            out.dead_letters.append(
                DeadLetter(out.topic, out.device_id, rej.reason, rej.detail, raw, rej.clock_offset_s)
            )
    return good


def _event(item: dict[str, Any], where: str, now: datetime, limits: ValidationLimits) -> tuple[Event, str]:
    event: Event = _model(Event, item, where)
    _check_ts(event.ts, now, limits, f"{where}.ts")
    return event, _compact(item)


def _reading(item: dict[str, Any], where: str, now: datetime, limits: ValidationLimits) -> Reading:
    reading: Reading = _model(Reading, item, where)
    if not math.isfinite(reading.value):
        raise _Rejected(Reason.INVALID_FIELD, f"{where}.value: must be a finite number")
    _check_ts(reading.ts, now, limits, f"{where}.ts")
    return reading


def _fill(out: Validated, suffix: Topic, obj: dict[str, Any], now: datetime, limits: ValidationLimits) -> None:
    device_id = out.device_id or ""
    if suffix is Topic.EVENTS:
        _header(obj, EVENTS_SCHEMA, device_id)
        items = _items(obj, "events", MAX_EVENTS_PER_BATCH)
        seen: set[str] = set()
        for event, payload_json in _each(out, items, "events", _event, now, limits):
            if event.event_id not in seen:  # a repeat inside one message is the same event: keep the first
                seen.add(event.event_id)
                out.events.append(ValidEvent(device_id, event, payload_json))
    elif suffix is Topic.TELEMETRY:
        _header(obj, TELEMETRY_SCHEMA, device_id)
        items = _items(obj, "readings", MAX_READINGS_PER_BATCH)
        out.readings.extend(_each(out, items, "readings", _reading, now, limits))
    elif suffix is Topic.HEALTH:
        _header(obj, HEALTH_SCHEMA, device_id)
        health: HealthSnapshot = _model(HealthSnapshot, obj, "")
        _check_ts(health.ts, now, limits, "ts")
        out.health, out.health_json = health, _compact(obj)
    elif suffix is Topic.STATE:
        # No `schema` and no time window: the Last Will is just {"online": false}, and a retained state may be old.
        out.state = _model(StateMessage, obj, "")
    elif suffix is Topic.CMD_RESULT:
        out.cmd_result, out.cmd_result_json = _model(CommandResult, obj, ""), _compact(obj)
    else:
        raise _Rejected(Reason.UNKNOWN_TOPIC, f"topic suffix {suffix.value!r} is hub-to-device, not consumed")


def _parse(payload: bytes) -> Any:
    """orjson on the hot path (it refuses NaN/Infinity and bad UTF-8 too); the standard parser only to name the
    problem of a message orjson refused."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise _Rejected(Reason.NOT_JSON, f"not UTF-8 JSON: {exc}") from None
    # Valid for the standard parser but not for orjson: e.g. an integer beyond 64 bits.
    raise _Rejected(Reason.NOT_JSON, "not UTF-8 JSON: a value is out of range (integers must fit in 64 bits)")


def _size_limit(suffix: Topic, limits: ValidationLimits) -> int:
    if suffix is Topic.EVENTS:
        return limits.max_event_bytes
    if suffix is Topic.TELEMETRY:
        return limits.max_telemetry_bytes
    return limits.max_other_bytes


def validate_message(topic: str, payload: bytes, now: datetime, limits: ValidationLimits) -> Validated:
    """Split one MQTT message into valid items and dead letters. Never raises for bad input.

    `now` is when the hub received the message: the reference for the time window, kept as `received_at`.
    """
    parsed = parse_topic(topic)
    out = Validated(topic, parsed[0] if parsed else None, parsed[1] if parsed else None, now)
    try:
        if parsed is None:
            raise _Rejected(Reason.UNKNOWN_TOPIC, f"{topic!r} is not a cityops/v1/dev/{{device_id}}/{{suffix}} topic")
        suffix = parsed[1]
        if suffix is Topic.STATE and not payload:
            return out  # an empty retained message only clears the broker's retained state
        limit = _size_limit(suffix, limits)
        if len(payload) > limit:
            raise _Rejected(Reason.OVERSIZED, f"message is {len(payload)} bytes, at most {limit} for {suffix.value}")
        obj = _parse(payload)
        if not isinstance(obj, dict):
            raise _Rejected(Reason.NOT_OBJECT, f"top level is a JSON {type(obj).__name__}, not an object")
        _fill(out, suffix, obj, now, limits)
    except _Rejected as rej:
        out.events.clear()
        out.readings.clear()
        out.dead_letters = [DeadLetter(topic, out.device_id, rej.reason, rej.detail, payload, rej.clock_offset_s)]
    return out
