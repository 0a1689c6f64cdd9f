"""An edge event sent without its picture (`evidence_missing`, a protocol v1 extension field) is accepted and
stored with that field in its payload, against a real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg

from cityops.contract.messages import format_ts, new_event_id
from cloud_hub.ingest.storage import store_batch
from cloud_hub.ingest.validation import ValidationLimits, validate_message

MISSING = {"reason": "rejected", "detail": "PUT ...: HTTP 409: the hub holds different bytes", "attempts": 1}


def message(device_id: str, event: dict) -> bytes:
    return json.dumps({"schema": "cityops.events/1", "device_id": device_id, "events": [event]}).encode()


def event_without_picture(seq: int) -> dict:
    return {
        "event_id": new_event_id(),
        "seq": seq,
        "ts": format_ts(datetime.now(UTC)),
        "kind": "illegal_parking",
        "phase": "start",
        "incident_key": f"cam-1/zone-a/track-{seq}",
        "evidence_missing": MISSING,
    }


def test_event_without_picture_is_valid_and_keeps_the_field() -> None:
    event = event_without_picture(1)
    validated = validate_message(
        "cityops/v1/dev/edge-x1/events", message("edge-x1", event), datetime.now(UTC), ValidationLimits()
    )
    assert validated.dead_letters == []
    (valid,) = validated.events
    assert valid.event.evidence is None and valid.event.evidence_missing.reason == "rejected"
    assert json.loads(valid.payload_json)["evidence_missing"] == MISSING


def test_event_without_picture_is_stored_with_the_reason_and_acked(database_url: str) -> None:
    device = f"dev-{uuid.uuid4().hex[:12]}"
    event = event_without_picture(1)
    validated = validate_message(
        f"cityops/v1/dev/{device}/events", message(device, event), datetime.now(UTC), ValidationLimits()
    )
    with psycopg.connect(database_url) as conn:
        result = store_batch(conn, [validated], [], datetime.now(UTC))
    assert result.events_stored == 1 and result.acks == {device: 1}
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT payload->'evidence_missing', payload ? 'evidence' FROM events WHERE device_id = %s", (device,)
        ).fetchone()
    assert stored == (MISSING, False)
