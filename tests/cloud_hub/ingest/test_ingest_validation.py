"""validate_message: each kind of bad input gets its reason; good items beside a bad one are kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityops.contract.messages import format_ts, new_event_id
from cloud_hub.ingest.validation import Reason, ValidationLimits, validate_message

NOW = datetime(2026, 11, 22, 18, 0, 0, tzinfo=UTC)
DEV = "edge-0007"
LIMITS = ValidationLimits(max_future_s=300, max_past_s=30 * 24 * 3600)


def topic(suffix: str, device: str = DEV) -> str:
    return f"cityops/v1/dev/{device}/{suffix}"


def event(seq: int = 1, **overrides: Any) -> dict[str, Any]:
    e = {
        "event_id": new_event_id(),
        "seq": seq,
        "ts": format_ts(NOW),
        "kind": "illegal_parking",
        "phase": "start",
        "incident_key": "cam-07/zone-a/track-55",
    }
    e.update(overrides)
    return {k: v for k, v in e.items() if v is not None}


def batch(*events: dict[str, Any], **overrides: Any) -> bytes:
    body: dict[str, Any] = {"schema": "cityops.events/1", "device_id": DEV, "events": list(events)}
    body.update(overrides)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def readings(*items: dict[str, Any], **overrides: Any) -> bytes:
    body = {"schema": "cityops.telemetry/1", "device_id": DEV, "readings": list(items), **overrides}
    return json.dumps(body).encode()


def reading(**overrides: Any) -> dict[str, Any]:
    return {"sensor_id": "wl-12", "metric": "water_level_cm", "ts": format_ts(NOW), "value": 14.2, **overrides}


# (topic, payload, reason, words the detail must contain)
WHOLE_MESSAGE_CASES = [
    ("events", b"{not json", Reason.NOT_JSON, "JSON"),
    ("events", b"\xff\xfe\x00garbage", Reason.NOT_JSON, "JSON"),
    ("events", b"[1, 2]", Reason.NOT_OBJECT, "list"),
    ("events", batch(event(), schema="cityops.events/2"), Reason.UNKNOWN_SCHEMA, "cityops.events/2"),
    ("events", json.dumps({"device_id": DEV, "events": [event()]}).encode(), Reason.MISSING_FIELD, "schema"),
    ("events", batch(event(), device_id="edge-0008"), Reason.DEVICE_MISMATCH, "edge-0008"),
    ("events", json.dumps({"schema": "cityops.events/1", "events": [event()]}).encode(), Reason.MISSING_FIELD,
     "device_id"),
    ("events", batch(), Reason.INVALID_FIELD, "events"),
    ("events", batch(*[event(i) for i in range(1, 502)]), Reason.TOO_MANY_ITEMS, "501"),
    ("events", batch(event(note="x" * (257 * 1024))), Reason.OVERSIZED, "bytes"),
    ("events", b'{"schema": "cityops.events/1", "device_id": "edge-0007", "events": [{"seq": NaN}]}',
     Reason.NOT_JSON, "NaN"),
    ("telemetry", readings(reading(), device_id="other-device"), Reason.DEVICE_MISMATCH, "other-device"),
    ("telemetry", readings(*[reading(ts=format_ts(NOW - timedelta(seconds=i))) for i in range(5001)]),
     Reason.TOO_MANY_ITEMS, "5001"),
    ("health", json.dumps({"schema": "cityops.health/1", "device_id": DEV}).encode(), Reason.MISSING_FIELD, "ts"),
    ("health", json.dumps({"schema": "cityops.health/1", "device_id": DEV,
                           "ts": format_ts(NOW + timedelta(hours=1))}).encode(), Reason.TS_IN_FUTURE, "ts"),
    ("state", b'{"online": "maybe"}', Reason.INVALID_FIELD, "online"),
    ("cmd_result", b'{"ok": true}', Reason.MISSING_FIELD, "cmd_id"),
]  # fmt: skip


@pytest.mark.parametrize(("suffix", "payload", "reason", "words"), WHOLE_MESSAGE_CASES)
def test_bad_message_is_one_dead_letter_with_its_reason(
    suffix: str, payload: bytes, reason: Reason, words: str
) -> None:
    out = validate_message(topic(suffix), payload, NOW, LIMITS)
    assert out.events == [] and out.readings == []
    assert out.health is None and out.state is None and out.cmd_result is None
    assert len(out.dead_letters) == 1
    letter = out.dead_letters[0]
    assert letter.reason is reason, letter.detail
    assert words in letter.detail
    assert letter.raw == payload  # the whole message is kept, as received
    assert letter.topic == topic(suffix) and letter.device_id == DEV


# (bad event, reason, field named in the detail)
BAD_EVENT_CASES = [
    (event(event_id=None), Reason.MISSING_FIELD, "events[1].event_id"),
    (event(event_id="not-a-uuid"), Reason.INVALID_FIELD, "events[1].event_id"),
    (event(seq=0), Reason.INVALID_FIELD, "events[1].seq"),
    (event(seq="seven"), Reason.INVALID_FIELD, "events[1].seq"),
    (event(ts=None), Reason.MISSING_FIELD, "events[1].ts"),
    (event(ts="2026-11-22T18:00:00"), Reason.INVALID_FIELD, "events[1].ts"),
    (event(ts=format_ts(NOW + timedelta(seconds=301))), Reason.TS_IN_FUTURE, "events[1].ts"),
    (event(ts=format_ts(NOW - timedelta(days=31))), Reason.TS_TOO_OLD, "events[1].ts"),
    (event(kind=None), Reason.MISSING_FIELD, "events[1].kind"),
    (event(phase="begin"), Reason.INVALID_FIELD, "events[1].phase"),
    (event(incident_key=None), Reason.MISSING_FIELD, "events[1].incident_key"),
    (event(confidence=1.5), Reason.INVALID_FIELD, "events[1].confidence"),
    (event(bbox=[0.1, 0.2, 1.3, 0.4]), Reason.INVALID_FIELD, "events[1].bbox"),
    (event(location={"lon": 200, "lat": 0}), Reason.INVALID_FIELD, "events[1].location.lon"),
    (event(camera_id="cam\x00-7"), Reason.INVALID_FIELD, "NUL"),
    ("just a string", Reason.NOT_OBJECT, "events[1]"),
]


@pytest.mark.parametrize(("bad", "reason", "where"), BAD_EVENT_CASES)
def test_one_bad_event_dead_letters_only_itself(bad: Any, reason: Reason, where: str) -> None:
    good1, good2 = event(1), event(3)
    out = validate_message(topic("events"), batch(good1, bad, good2), NOW, LIMITS)
    assert [e.event.seq for e in out.events] == [1, 3]
    assert len(out.dead_letters) == 1
    letter = out.dead_letters[0]
    assert letter.reason is reason, letter.detail
    assert where in letter.detail
    assert json.loads(letter.raw) == bad  # just the bad event, not the batch


def test_good_batch_keeps_unknown_fields_and_payload_as_received() -> None:
    e = event(7, future_field={"nested": [1, 2]}, location={"lon": 118.79, "lat": 32.06})
    out = validate_message(topic("events"), batch(e), NOW, LIMITS)
    assert out.dead_letters == []
    (item,) = out.events
    assert item.device_id == DEV and item.event.seq == 7
    assert json.loads(item.payload_json) == e
    assert out.received_at == NOW


def test_repeated_event_in_one_message_is_kept_once() -> None:
    e = event(4)
    out = validate_message(topic("events"), batch(e, dict(e)), NOW, LIMITS)
    assert len(out.events) == 1 and out.dead_letters == []


def test_telemetry_bad_reading_beside_good_ones() -> None:
    out = validate_message(
        topic("telemetry"), readings(reading(), reading(value="high"), reading(metric="rain_mm")), NOW, LIMITS
    )
    assert [r.metric for r in out.readings] == ["water_level_cm", "rain_mm"]
    (letter,) = out.dead_letters
    assert letter.reason is Reason.INVALID_FIELD and "readings[1].value" in letter.detail


def test_state_last_will_and_empty_retained_clear() -> None:
    will = validate_message(topic("state"), b'{"online": false}', NOW, LIMITS)
    assert will.state is not None and will.state.online is False and will.dead_letters == []
    cleared = validate_message(topic("state"), b"", NOW, LIMITS)
    assert cleared.state is None and cleared.dead_letters == []


def test_health_and_cmd_result_are_parsed() -> None:
    health = {"schema": "cityops.health/1", "device_id": DEV, "ts": format_ts(NOW), "config_version": 3,
              "models": [{"name": "yolox_nano", "sha256": "ab"}]}  # fmt: skip
    out = validate_message(topic("health"), json.dumps(health).encode(), NOW, LIMITS)
    assert out.health is not None and out.health.config_version == 3 and json.loads(out.health_json) == health
    result = validate_message(topic("cmd_result"), b'{"cmd_id": "c1", "ok": true, "detail": "pong"}', NOW, LIMITS)
    assert result.cmd_result is not None and result.cmd_result.detail == "pong"


@pytest.mark.parametrize("bad_topic", ["cityops/v1/dev/x/events", "cityops/v2/dev/edge-0007/events", "a/b"])
def test_unknown_topic(bad_topic: str) -> None:
    out = validate_message(bad_topic, batch(event()), NOW, LIMITS)
    (letter,) = out.dead_letters
    assert letter.reason is Reason.UNKNOWN_TOPIC and letter.device_id is None and out.events == []
