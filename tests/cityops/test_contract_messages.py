import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from cityops.contract.messages import Event, EventBatch, dump, format_ts, new_event_id


def _event(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": "01936f6e-8c2a-7b1e-9d4f-2b6c1a9e0f11",
        "seq": 1042,
        "ts": "2026-11-22T18:31:05.123Z",
        "kind": "illegal_parking",
        "phase": "start",
        "incident_key": "cam-07/zone-a/track-55",
    }
    event.update(overrides)
    return event


def test_protocol_example_event_parses_and_keeps_unknown_fields() -> None:
    event = Event.model_validate(_event(future_field={"x": 1}, bbox=[0.41, 0.55, 0.58, 0.80]))
    assert event.ts == datetime(2026, 11, 22, 18, 31, 5, 123000, tzinfo=UTC)
    assert json.loads(dump(event))["future_field"] == {"x": 1}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"seq": 0}, "seq"),
        ({"phase": "middle"}, "phase"),
        ({"ts": "2026-11-22T18:31:05"}, "ts"),  # no time zone
        ({"bbox": [0.1, 0.2, 1.5, 0.3]}, "bbox"),
        ({"confidence": 1.2}, "confidence"),
    ],
)
def test_invalid_fields_are_named(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Event.model_validate(_event(**overrides))
    assert field in str(info.value)


@pytest.mark.parametrize("missing", ["event_id", "seq", "ts", "kind", "phase", "incident_key"])
def test_required_fields(missing: str) -> None:
    raw = _event()
    del raw[missing]
    with pytest.raises(ValidationError) as info:
        Event.model_validate(raw)
    assert missing in str(info.value)


def test_batch_schema_and_size_limits() -> None:
    batch = EventBatch.model_validate({"schema": "cityops.events/1", "device_id": "edge-0007", "events": [_event()]})
    assert json.loads(dump(batch))["schema"] == "cityops.events/1"
    with pytest.raises(ValidationError):
        EventBatch.model_validate({"schema": "cityops.events/2", "device_id": "edge-0007", "events": [_event()]})
    with pytest.raises(ValidationError):
        EventBatch.model_validate({"schema": "cityops.events/1", "device_id": "edge-0007", "events": []})
    with pytest.raises(ValidationError):
        EventBatch.model_validate({"schema": "cityops.events/1", "device_id": "edge-0007", "events": [_event()] * 501})


def test_new_event_id_is_uuid7_and_time_ordered() -> None:
    first = new_event_id(now_ms=1_700_000_000_000)
    second = new_event_id(now_ms=1_700_000_000_001)
    assert uuid.UUID(first).version == 7
    assert uuid.UUID(first).variant == uuid.RFC_4122
    assert first < second


def test_format_ts() -> None:
    assert format_ts(datetime(2026, 11, 22, 18, 31, 5, 123456, tzinfo=UTC)) == "2026-11-22T18:31:05.123Z"
