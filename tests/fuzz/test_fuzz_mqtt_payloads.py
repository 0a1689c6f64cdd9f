"""Property tests of the hub's MQTT payload validation (cloud_hub.ingest.validation.validate_message) on every
device-to-hub topic: arbitrary bytes, arbitrary JSON and near-valid batches never raise, every dead letter has a
reason and a detail naming the problem, and valid generated batches are accepted whole."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.contract.messages import format_ts
from cloud_hub.ingest.validation import Reason, Validated, ValidationLimits, validate_message

NOW = datetime(2026, 11, 22, 18, 0, 0, tzinfo=UTC)
DEV = "edge-0007"
LIMITS = ValidationLimits()
SUFFIXES = ("events", "telemetry", "health", "state", "cmd_result")
PG_BIGINT_MAX = 2**63 - 1
# What a valid string may hold: no NUL (jsonb refuses it) and no lone surrogate (not UTF-8).
TEXT = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
# A field is either left out, or right, or any JSON value: near-valid messages that reach every check.
timestamps = st.datetimes(
    min_value=datetime(2026, 10, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
).map(format_ts)


def _maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, json_values)


def _topic(suffix: str) -> str:
    return f"cityops/v1/dev/{DEV}/{suffix}"


def _check(out: Validated, payload: bytes) -> None:
    """What every answer must be: items or dead letters, each dead letter with a known reason and a readable detail."""
    for letter in out.dead_letters:
        assert isinstance(letter.reason, Reason)
        assert letter.detail.strip(), f"dead letter without a detail: {letter}"
    accepted = len(out.events) + len(out.readings) + sum(x is not None for x in (out.health, out.state, out.cmd_result))
    if not payload and out.suffix is not None and out.suffix.value == "state":
        return  # an empty retained state only clears the broker's copy: nothing to accept or refuse
    assert accepted or out.dead_letters, "a message neither accepted nor refused"
    for valid in out.events:
        assert valid.event.seq <= PG_BIGINT_MAX  # it goes into a bigint column
        assert "\\u0000" not in valid.payload_json  # jsonb refuses NUL


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), payload=st.binary(max_size=512))
def test_arbitrary_bytes_are_refused_with_a_reason_never_raised(suffix: str, payload: bytes) -> None:
    _check(validate_message(_topic(suffix), payload, NOW, LIMITS), payload)


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), body=json_values)
def test_arbitrary_json_is_refused_with_a_reason_never_raised(suffix: str, body: Any) -> None:
    payload = json.dumps(body).encode()
    _check(validate_message(_topic(suffix), payload, NOW, LIMITS), payload)


@FUZZ
@given(topic=st.text(max_size=60), payload=st.binary(max_size=64))
def test_any_topic_is_refused_with_a_reason_never_raised(topic: str, payload: bytes) -> None:
    out = validate_message(topic, payload, NOW, LIMITS)
    assert all(letter.detail for letter in out.dead_letters)


events = st.fixed_dictionaries(
    {
        "event_id": _maybe(st.uuids().map(str)),
        "seq": _maybe(st.integers(min_value=2**63 - 2, max_value=2**64 - 1) | st.integers(min_value=1)),
        "ts": _maybe(timestamps),
        "kind": _maybe(st.sampled_from(["illegal_parking", "waterlogging"])),
        "phase": _maybe(st.sampled_from(["start", "update", "end"])),
        "incident_key": _maybe(st.text(min_size=1, max_size=40)),
    },
    optional={
        "confidence": _maybe(st.floats(0, 1)),
        "bbox": _maybe(st.lists(st.floats(0, 1), min_size=4, max_size=4)),
        "location": _maybe(st.fixed_dictionaries({"lon": st.floats(-180, 180), "lat": st.floats(-90, 90)})),
        "track_id": _maybe(st.integers(min_value=-(2**64), max_value=2**64 - 1)),
        "measurements": _maybe(st.dictionaries(st.text(max_size=8), st.floats(allow_nan=False), max_size=3)),
        "camera_id": _maybe(st.text(max_size=20)),
    },
)


@FUZZ
@given(items=st.lists(events, min_size=1, max_size=5), schema=_maybe(st.just("cityops.events/1")))
def test_near_valid_event_batches_keep_good_events_and_name_bad_ones(items: list[Any], schema: Any) -> None:
    payload = json.dumps({"schema": schema, "device_id": DEV, "events": items}).encode()
    _check(validate_message(_topic("events"), payload, NOW, LIMITS), payload)


readings = st.fixed_dictionaries(
    {
        "sensor_id": _maybe(st.text(min_size=1, max_size=20)),
        "metric": _maybe(st.just("water_level_cm")),
        "ts": _maybe(timestamps),
        "value": _maybe(st.floats(allow_nan=False, allow_infinity=False)),
    }
)


@FUZZ
@given(items=st.lists(readings, min_size=1, max_size=5))
def test_near_valid_telemetry_keeps_good_readings_and_names_bad_ones(items: list[Any]) -> None:
    payload = json.dumps({"schema": "cityops.telemetry/1", "device_id": DEV, "readings": items}).encode()
    _check(validate_message(_topic("telemetry"), payload, NOW, LIMITS), payload)


@FUZZ
@given(
    health=st.fixed_dictionaries(
        {"schema": st.just("cityops.health/1"), "device_id": st.just(DEV), "ts": _maybe(timestamps)},
        optional={
            "cameras": _maybe(st.lists(st.fixed_dictionaries({"camera_id": json_values, "status": json_values}))),
            "config_version": json_values,
            "uptime_s": json_values,
        },
    ),
    result=st.fixed_dictionaries(
        {"cmd_id": _maybe(st.uuids().map(str)), "ok": _maybe(st.booleans())}, optional={"detail": json_values}
    ),
)
def test_near_valid_health_and_command_results_are_accepted_or_named(health: Any, result: Any) -> None:
    for suffix, body in (("health", health), ("cmd_result", result)):
        payload = json.dumps(body).encode()
        _check(validate_message(_topic(suffix), payload, NOW, LIMITS), payload)


valid_events = st.fixed_dictionaries(
    {
        "event_id": st.uuids().map(str),
        "seq": st.integers(min_value=1, max_value=PG_BIGINT_MAX),
        "ts": st.integers(min_value=-LIMITS.max_past_s + 1, max_value=LIMITS.max_future_s).map(
            lambda s: format_ts(NOW + timedelta(seconds=s))
        ),
        "kind": st.sampled_from(["illegal_parking", "waterlogging", "camera_fault"]),
        "phase": st.sampled_from(["start", "update", "end"]),
        "incident_key": st.text(TEXT, min_size=1, max_size=40),
    },
    optional={"confidence": st.floats(0, 1), "bbox": st.lists(st.floats(0, 1), min_size=4, max_size=4)},
)


@FUZZ
@given(items=st.lists(valid_events, min_size=1, max_size=20, unique_by=lambda e: e["event_id"]))
def test_valid_event_batches_are_accepted_whole(items: list[dict[str, Any]]) -> None:
    payload = json.dumps({"schema": "cityops.events/1", "device_id": DEV, "events": items}).encode()
    out = validate_message(_topic("events"), payload, NOW, LIMITS)
    assert out.dead_letters == []
    assert [v.event.event_id for v in out.events] == [str(uuid.UUID(e["event_id"])) for e in items]


@FUZZ
@given(ok=st.booleans(), detail=st.text(TEXT, max_size=50))
def test_valid_command_results_are_accepted(ok: bool, detail: str) -> None:
    payload = json.dumps({"cmd_id": str(uuid.uuid4()), "ok": ok, "detail": detail}).encode()
    out = validate_message(_topic("cmd_result"), payload, NOW, LIMITS)
    assert out.dead_letters == [] and out.cmd_result is not None


def _event_batch(**fields: Any) -> bytes:
    event = {"event_id": str(uuid.uuid4()), "seq": 1, "ts": format_ts(NOW), "kind": "illegal_parking"}
    event |= {"phase": "start", "incident_key": "k"} | fields
    return json.dumps({"schema": "cityops.events/1", "device_id": DEV, "events": [event]}).encode()


def test_a_seq_beyond_the_bigint_column_is_refused_naming_the_field() -> None:
    # Found by the fuzzing above: 2**63 passed validation, then failed the database write of its batch.
    out = validate_message(_topic("events"), _event_batch(seq=2**63), NOW, LIMITS)
    assert out.events == [] and [d.reason for d in out.dead_letters] == [Reason.INVALID_FIELD]
    assert "events[0].seq" in out.dead_letters[0].detail
    assert validate_message(_topic("events"), _event_batch(seq=PG_BIGINT_MAX), NOW, LIMITS).events


def test_a_config_version_beyond_the_integer_column_is_refused_naming_the_field() -> None:
    body = {"schema": "cityops.health/1", "device_id": DEV, "ts": format_ts(NOW), "config_version": 2**31}
    out = validate_message(_topic("health"), json.dumps(body).encode(), NOW, LIMITS)
    assert out.health is None and "config_version" in out.dead_letters[0].detail
    body["config_version"] = 2**31 - 1
    assert validate_message(_topic("health"), json.dumps(body).encode(), NOW, LIMITS).health is not None


def test_a_string_that_only_looks_like_an_escaped_nul_is_accepted_and_a_real_nul_refused() -> None:
    # Found by hypothesis: the six characters \u0000 in a detail were refused as if they were a NUL character.
    for detail, accepted in (("\\u0000", True), ("\\\\u0000", True), ("\x00", False), ("\\\x00", False)):
        payload = json.dumps({"cmd_id": str(uuid.uuid4()), "ok": True, "detail": detail}).encode()
        out = validate_message(_topic("cmd_result"), payload, NOW, LIMITS)
        assert (out.cmd_result is not None) is accepted, detail
