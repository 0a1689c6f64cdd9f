"""A box whose clock is off (minutes, hours): its offset is recorded and flagged, its events keep their seq order on
the hub's clock, and what the protocol refuses for its time is dead-lettered with the reason, never dropped."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cityops.contract.messages import format_ts, new_event_id
from cloud_hub.devices.registry import get_device
from cloud_hub.devices.status import with_status
from cloud_hub.ingest.storage import store_batch
from cloud_hub.ingest.validation import ValidationLimits, validate_message
from cloud_hub.store.events import incident_events

LIMITS = ValidationLimits()


def device(conn: psycopg.Connection) -> str:
    device_id = f"dev-{uuid.uuid4().hex[:12]}"
    conn.execute("INSERT INTO devices (device_id, kind, secret_hash) VALUES (%s, 'edge', 'h')", (device_id,))
    return device_id


def health(device_id: str, clock: datetime, now: datetime):
    body = {"schema": "cityops.health/1", "device_id": device_id, "ts": format_ts(clock)}
    return validate_message(f"cityops/v1/dev/{device_id}/health", json.dumps(body).encode(), now, LIMITS)


@pytest.mark.parametrize(
    ("skew", "stored", "flagged"),
    [
        (timedelta(0), True, False),
        (timedelta(seconds=20), True, False),
        (timedelta(minutes=4), True, True),  # inside the protocol's 5 minutes: stored, and flagged
        (timedelta(minutes=10), False, True),  # dead-lettered (ts_in_future) as the protocol says, still flagged
        (-timedelta(hours=5), True, True),
    ],
)
def test_the_offset_is_recorded_and_flagged(database_url: str, skew: timedelta, stored: bool, flagged: bool) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        device_id = device(conn)
        store_batch(conn, [health(device_id, now + skew, now)], (), now)
        reasons = [r[0] for r in conn.execute("SELECT reason FROM dead_letters WHERE device_id = %s", (device_id,))]
        row = with_status(get_device(conn, device_id), now)
    assert reasons == ([] if stored else ["ts_in_future"])
    assert row["clock_offset_s"] == pytest.approx(skew.total_seconds(), abs=1)
    assert row["clock_skewed"] is flagged
    assert any(f.startswith("clock ") for f in row["faults"]) is flagged
    if stored:  # a box hours behind is online, not "stale": its health is judged on the hub's clock
        with psycopg.connect(database_url) as conn:
            conn.execute("UPDATE devices SET online = true WHERE device_id = %s", (device_id,))
            assert with_status(get_device(conn, device_id), now)["status"] == "online"


def test_a_clock_stepped_back_mid_stay_keeps_the_timeline_in_seq_order(database_url: str) -> None:
    """The box's NTP stepped its clock back 40 s between seq 2 and seq 3: by `ts` seq 3 would come first."""
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    stamps = {1: t0, 2: t0 + timedelta(seconds=30), 3: t0 - timedelta(seconds=10), 4: t0 + timedelta(seconds=20)}
    with psycopg.connect(database_url) as conn:
        device_id = device(conn)
        ids = {seq: new_event_id() for seq in stamps}
        body = {"schema": "cityops.events/1", "device_id": device_id, "events": [
            {"event_id": ids[seq], "seq": seq, "ts": format_ts(ts), "kind": "waterlogging",
             "phase": "start" if seq == 1 else "update", "incident_key": "underpass-3"}
            for seq, ts in stamps.items()
        ]}  # fmt: skip
        message = validate_message(f"cityops/v1/dev/{device_id}/events", json.dumps(body).encode(), t0, LIMITS)
        out = store_batch(conn, [message], (), datetime.now(UTC))
        assert out.events_stored == 4 and out.acks[device_id] == 4
        incident = conn.execute(
            "INSERT INTO incidents (device_id, incident_key, kind, severity, status, first_event_id, last_event_id,"
            " first_seen, last_seen) VALUES (%s, 'underpass-3', 'waterlogging', 'yellow', 'open', %s, %s, %s, %s)"
            " RETURNING id",
            (device_id, ids[1], ids[4], min(stamps.values()) - timedelta(seconds=1), max(stamps.values())),
        ).fetchone()[0]
        rows, truncated = incident_events(conn, incident)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4] and not truncated
