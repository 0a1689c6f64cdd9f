"""The COPY fast path of store_batch: devices with nothing pending are COPYed straight into `events`; a unique-key
collision (a device reusing an event id under a new seq) falls back to the ON CONFLICT path without losing or
duplicating anything, and devices with pending seqs always take the ON CONFLICT path."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from cityops.contract.messages import format_ts, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.ingest.storage import StoreOutcome, store_batch
from cloud_hub.ingest.validation import Validated, ValidationLimits, validate_message

BASE = datetime.now(UTC).replace(microsecond=0)


def event(seq: int, event_id: str | None = None, at_ms: int | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or new_event_id(),
        "seq": seq,
        "ts": format_ts(BASE + timedelta(milliseconds=seq if at_ms is None else at_ms)),
        "kind": "illegal_parking",
        "phase": "update",
        "incident_key": f"cam-1/zone-a/track-{seq}",
        "camera_id": "cam-1",
    }


def message(device_id: str, events: Sequence[dict[str, Any]]) -> Validated:
    body = {"schema": "cityops.events/1", "device_id": device_id, "events": list(events)}
    topic = f"cityops/v1/dev/{device_id}/events"
    return validate_message(topic, json.dumps(body).encode(), datetime.now(UTC), ValidationLimits())


def store(url: str, messages: Sequence[Validated], seen: list[IngestedEvent]) -> StoreOutcome:
    with psycopg.connect(url) as conn:
        return store_batch(conn, messages, [lambda _conn, events: seen.extend(events)], datetime.now(UTC))


def stored(url: str, device_id: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT seq, event_id::text FROM events WHERE device_id = %s ORDER BY seq", (device_id,))
        return [(seq, event_id) for seq, event_id in rows.fetchall()]


def device() -> str:
    return f"fast-{uuid.uuid4().hex[:10]}"


def test_reused_event_id_falls_back_and_keeps_the_rest_of_the_batch(database_url: str) -> None:
    a, b = device(), device()
    first = [event(1), event(2)]
    seen: list[IngestedEvent] = []
    assert store(database_url, [message(a, first)], seen).events_stored == 2

    # Device a re-sends event 2 under seq 3 (same id and ts): it collides on the unique key inside the COPY.
    reused = {**first[1], "seq": 3}
    fresh_b = [event(1), event(2)]
    seen.clear()
    out = store(database_url, [message(a, [reused, event(4)]), message(b, fresh_b)], seen)

    assert out.events_stored == 3 and out.events_duplicate == 1
    assert {(e.device_id, e.event.seq) for e in seen} == {(a, 4), (b, 1), (b, 2)}
    assert [seq for seq, _ in stored(database_url, a)] == [1, 2, 4]
    assert stored(database_url, b) == [(1, fresh_b[0]["event_id"]), (2, fresh_b[1]["event_id"])]
    assert out.acks == {a: 4, b: 2}


def test_pending_device_and_clean_device_in_one_batch(database_url: str) -> None:
    gap, clean = device(), device()
    seen: list[IngestedEvent] = []
    gap_events = [event(1), event(2), event(3)]
    assert store(database_url, [message(gap, gap_events[1:])], seen).acks == {gap: 0}  # 2, 3 wait for 1

    seen.clear()
    # The pending device re-sends 3 (a duplicate, only the ON CONFLICT path can tell) and sends the missing 1.
    out = store(database_url, [message(gap, [gap_events[2], gap_events[0]]), message(clean, [event(1)])], seen)
    assert out.acks == {gap: 3, clean: 1}
    assert out.events_stored == 2 and out.events_duplicate == 1
    assert {(e.device_id, e.event.seq) for e in seen} == {(clean, 1), (gap, 1)}
    assert [seq for seq, _ in stored(database_url, gap)] == [1, 2, 3]


def test_redelivered_batch_after_fast_path_is_a_no_op(database_url: str) -> None:
    dev = device()
    events = [event(s) for s in range(1, 51)]
    seen: list[IngestedEvent] = []
    assert store(database_url, [message(dev, events)], seen).events_stored == 50
    seen.clear()
    again = store(database_url, [message(dev, events)], seen)
    assert again.events_stored == 0 and again.events_duplicate == 50 and not seen
    assert again.acks == {dev: 50}
    assert len(stored(database_url, dev)) == 50
