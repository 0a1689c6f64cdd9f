"""store_batch against a real PostgreSQL: exactly-once events, contiguous ack cursor, concurrent writers,
dead letters, processors, telemetry, health and state."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from cityops.contract.messages import format_ts, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.ingest.storage import store_batch
from cloud_hub.ingest.validation import Reason, Validated, ValidationLimits, validate_message
from cloud_hub.rules.loader import RulesStore

LIMITS = ValidationLimits()


def now() -> datetime:
    return datetime.now(UTC)


def new_device() -> str:
    return f"dev-{uuid.uuid4().hex[:12]}"


class EventFactory:
    """Events of one device with stable ids per seq, so a 'resend' is the identical event."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.ids: dict[int, str] = {}
        self.base = now()

    def event(self, seq: int) -> dict[str, Any]:
        event_id = self.ids.setdefault(seq, new_event_id())
        return {
            "event_id": event_id,
            "seq": seq,
            "ts": format_ts(self.base + timedelta(milliseconds=seq)),
            "kind": "illegal_parking",
            "phase": "start",
            "incident_key": f"cam-1/zone-a/track-{seq}",
            "camera_id": "cam-1",
            "location": {"lon": 118.7969, "lat": 32.0603},
        }

    def message(self, *seqs: int, extra: Sequence[Any] = ()) -> Validated:
        body = {
            "schema": "cityops.events/1",
            "device_id": self.device_id,
            "events": [self.event(s) for s in seqs] + list(extra),
        }
        return validate_message(f"cityops/v1/dev/{self.device_id}/events", json.dumps(body).encode(), now(), LIMITS)


def store(url: str, messages: Sequence[Validated], processors: Sequence[Any] = ()) -> Any:
    with psycopg.connect(url) as conn:  # commits on leaving the block
        return store_batch(conn, messages, processors, now())


def scalar(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_redelivery_is_stored_once_and_acked_again(database_url: str) -> None:
    dev = EventFactory(new_device())
    seen: list[IngestedEvent] = []
    first = store(database_url, [dev.message(1, 2, 3)], [lambda conn, events: seen.extend(events)])
    assert first.events_stored == 3 and first.events_duplicate == 0
    assert first.acks == {dev.device_id: 3}
    assert [e.event.seq for e in seen] == [1, 2, 3]

    again = store(database_url, [dev.message(1, 2, 3)], [lambda conn, events: seen.extend(events)])
    assert again.events_stored == 0 and again.events_duplicate == 3
    assert again.acks == {dev.device_id: 3}  # a device that lost its ack gets it again
    assert len(seen) == 3  # processors never see a duplicate
    assert scalar(database_url, "SELECT count(*) FROM events WHERE device_id = %s", dev.device_id) == 3


def test_out_of_order_seq_advances_cursor_only_over_contiguous_runs(database_url: str) -> None:
    dev = EventFactory(new_device())
    assert store(database_url, [dev.message(2, 3)]).acks == {dev.device_id: 0}
    assert store(database_url, [dev.message(5)]).acks == {dev.device_id: 0}
    pending = scalar(database_url, "SELECT array_agg(seq ORDER BY seq) FROM seq_pending WHERE device_id = %s",
                     dev.device_id)  # fmt: skip
    assert pending == [2, 3, 5]
    assert store(database_url, [dev.message(1)]).acks == {dev.device_id: 3}
    # A resend of stored events above the cursor is a duplicate and does not move it.
    out = store(database_url, [dev.message(5)])
    assert out.events_duplicate == 1 and out.acks == {dev.device_id: 3}
    assert store(database_url, [dev.message(4, 6)]).acks == {dev.device_id: 6}
    assert scalar(database_url, "SELECT count(*) FROM seq_pending WHERE device_id = %s", dev.device_id) == 0
    assert scalar(database_url, "SELECT count(*) FROM events WHERE device_id = %s", dev.device_id) == 6


def test_one_batch_with_many_devices_and_repeats(database_url: str) -> None:
    a, b = EventFactory(new_device()), EventFactory(new_device())
    out = store(database_url, [a.message(1, 2), b.message(1), a.message(2, 3), b.message(3)])
    assert out.events_stored == 5 and out.events_duplicate == 1
    assert out.acks == {a.device_id: 3, b.device_id: 1}


def test_concurrent_writers_on_one_device_store_each_event_once(database_url: str) -> None:
    dev = EventFactory(new_device())
    n = 300
    rng = random.Random(7)
    stored_counts: list[int] = []
    processed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def record(conn: psycopg.Connection, events: Sequence[IngestedEvent]) -> None:
        with lock:
            processed.extend(e.event.seq for e in events)

    def writer(seed: int) -> None:
        order = list(range(1, n + 1))
        random.Random(seed).shuffle(order)  # each writer sees every event, in its own order, in small batches
        try:
            with psycopg.connect(database_url) as conn:
                for start in range(0, n, 10):
                    with conn.transaction():
                        out = store_batch(conn, [dev.message(*order[start : start + 10])], [record], now())
                    with lock:
                        stored_counts.append(out.events_stored)
        except BaseException as exc:
            errors.append(exc)

    for seq in range(1, n + 1):  # fix the event ids before the threads race
        dev.event(seq)
    threads = [threading.Thread(target=writer, args=(rng.random(),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(stored_counts) == n
    assert sorted(processed) == list(range(1, n + 1))  # every event processed exactly once
    assert scalar(database_url, "SELECT count(*) FROM events WHERE device_id = %s", dev.device_id) == n
    assert scalar(database_url, "SELECT acked_seq FROM device_seq WHERE device_id = %s", dev.device_id) == n
    assert scalar(database_url, "SELECT count(*) FROM seq_pending WHERE device_id = %s", dev.device_id) == 0


def test_dead_letters_are_stored_with_reason_and_raw_bytes(database_url: str) -> None:
    dev = EventFactory(new_device())
    topic = f"cityops/v1/dev/{dev.device_id}/events"
    garbage = validate_message(topic, b"\x00not json at all", now(), LIMITS)
    mixed = dev.message(1, extra=[{"seq": 2}])
    out = store(database_url, [garbage, mixed])
    assert out.events_stored == 1 and len(out.dead_letters) == 2
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT reason, detail, raw, raw_size, topic FROM dead_letters WHERE device_id = %s ORDER BY reason",
            (dev.device_id,),
        ).fetchall()
    assert [(r[0], r[4]) for r in rows] == [(Reason.MISSING_FIELD.value, topic), (Reason.NOT_JSON.value, topic)]
    assert "events[1].event_id" in rows[0][1]
    assert bytes(rows[1][2]) == b"\x00not json at all" and rows[1][3] == 16


def test_dead_letter_raw_is_truncated_to_64_kib(database_url: str) -> None:
    device_id = new_device()
    payload = b"x" * (300 * 1024)
    oversized = validate_message(f"cityops/v1/dev/{device_id}/events", payload, now(), LIMITS)
    store(database_url, [oversized])
    with psycopg.connect(database_url) as conn:
        reason, raw_len, size = conn.execute(
            "SELECT reason, octet_length(raw), raw_size FROM dead_letters WHERE device_id = %s", (device_id,)
        ).fetchone()
    assert (reason, raw_len, size) == ("oversized", 64 * 1024, 300 * 1024)


def test_failing_processor_keeps_events_and_other_processors_work(database_url: str) -> None:
    dev = EventFactory(new_device())
    seen: list[int] = []

    def broken(conn: psycopg.Connection, events: Sequence[IngestedEvent]) -> None:
        conn.execute("INSERT INTO devices (device_id) VALUES ('x')")  # fails: its savepoint is rolled back
        raise AssertionError("not reached")

    def fine(conn: psycopg.Connection, events: Sequence[IngestedEvent]) -> None:
        seen.extend(e.event.seq for e in events)

    out = store(database_url, [dev.message(1, 2)], [broken, fine])
    assert out.events_stored == 2 and len(out.processor_errors) == 1 and seen == [1, 2]
    assert scalar(database_url, "SELECT acked_seq FROM device_seq WHERE device_id = %s", dev.device_id) == 2


def test_telemetry_repeats_are_ignored(database_url: str) -> None:
    device_id = new_device()
    ts = format_ts(now())
    body = {"schema": "cityops.telemetry/1", "device_id": device_id, "readings": [
        {"sensor_id": "wl-1", "metric": "water_level_cm", "ts": ts, "value": 14.2},
        {"sensor_id": "wl-1", "metric": "rain_mm", "ts": ts, "value": 3.0},
    ]}  # fmt: skip
    message = validate_message(f"cityops/v1/dev/{device_id}/telemetry", json.dumps(body).encode(), now(), LIMITS)
    assert store(database_url, [message]).readings_stored == 2
    assert store(database_url, [message]).readings_stored == 0
    assert scalar(database_url, "SELECT count(*) FROM telemetry WHERE device_id = %s", device_id) == 2


def test_health_and_state_update_the_device(database_url: str) -> None:
    device_id = new_device()
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO devices (device_id, kind, secret_hash) VALUES (%s, 'edge', 'h')", (device_id,))
    prefix = f"cityops/v1/dev/{device_id}"
    t0 = now()
    online = validate_message(f"{prefix}/state", b'{"online": true, "agent_version": "1.4.0"}', t0, LIMITS)
    health = {"schema": "cityops.health/1", "device_id": device_id, "ts": format_ts(t0), "config_version": 12,
              "models": [{"name": "yolox_nano", "sha256": "695e"}]}  # fmt: skip
    snapshot = validate_message(f"{prefix}/health", json.dumps(health).encode(), t0, LIMITS)
    result = validate_message(f"{prefix}/cmd_result", b'{"cmd_id": "c-1", "ok": true, "detail": "pong"}', t0, LIMITS)
    store(database_url, [online, snapshot, result])
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT online, agent_version, config_version, models, last_seen IS NOT NULL FROM devices"
            " WHERE device_id = %s",
            (device_id,),
        ).fetchone()
        assert row == (True, "1.4.0", 12, [{"name": "yolox_nano", "sha256": "695e"}], True)
        assert conn.execute("SELECT count(*) FROM health WHERE device_id = %s", (device_id,)).fetchone()[0] == 1
        assert conn.execute("SELECT detail FROM cmd_results WHERE cmd_id = 'c-1'").fetchone()[0] == "pong"

    # The Last Will goes through; an older online message delivered late (another replica) does not undo it.
    will = validate_message(f"{prefix}/state", b'{"online": false}', t0 + timedelta(seconds=5), LIMITS)
    late = validate_message(f"{prefix}/state", b'{"online": true}', t0 + timedelta(seconds=2), LIMITS)
    store(database_url, [will])
    store(database_url, [late])
    assert scalar(database_url, "SELECT online FROM devices WHERE device_id = %s", device_id) is False


def test_event_columns_are_filled_from_the_event(database_url: str) -> None:
    dev = EventFactory(new_device())
    store(database_url, [dev.message(1)])
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT event_id::text, kind, phase, camera_id, lon, lat, payload->>'incident_key' FROM events"
            " WHERE device_id = %s",
            (dev.device_id,),
        ).fetchone()
    assert row == (dev.ids[1], "illegal_parking", "start", "cam-1", 118.7969, 32.0603, "cam-1/zone-a/track-1")


def test_replicas_racing_on_shared_devices_and_situations_store_and_merge_each_event_once(database_url: str) -> None:
    """Four writers, each storing every event of three devices in its own order, in batches spanning the devices,
    through the real incident processor: no deadlock or error, every event stored and merged once, each cursor at
    the end with nothing pending, one incident per situation holding all of its events."""
    devices = [EventFactory(new_device()) for _ in range(3)]
    n, situations = 120, 6
    with psycopg.connect(database_url) as conn:
        incidents = IncidentProcessor(
            GridDirectory.load(conn), RulesStore.from_settings_dir(Path(__file__).resolve().parents[3] / "rules")
        )

    def event(dev: EventFactory, seq: int) -> dict[str, Any]:
        return {**dev.event(seq), "phase": "update", "incident_key": f"cam-1/zone-a/track-{seq % situations}"}

    def message(dev: EventFactory, seqs: Sequence[int]) -> Validated:
        body = {"schema": "cityops.events/1", "device_id": dev.device_id, "events": [event(dev, s) for s in seqs]}
        return validate_message(f"cityops/v1/dev/{dev.device_id}/events", json.dumps(body).encode(), now(), LIMITS)

    for dev in devices:  # fix the event ids before the threads race
        for seq in range(1, n + 1):
            dev.event(seq)
    stored: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        orders = {dev.device_id: rng.sample(range(1, n + 1), n) for dev in devices}
        try:
            with psycopg.connect(database_url) as conn:
                for start in range(0, n, 15):
                    batch = [message(dev, orders[dev.device_id][start : start + 15]) for dev in devices]
                    rng.shuffle(batch)
                    with conn.transaction():
                        out = store_batch(conn, batch, [incidents], now())
                    with lock:
                        stored.append(out.events_stored)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(stored) == n * len(devices)
    for dev in devices:
        assert scalar(database_url, "SELECT count(*) FROM events WHERE device_id = %s", dev.device_id) == n
        assert scalar(database_url, "SELECT acked_seq FROM device_seq WHERE device_id = %s", dev.device_id) == n
        assert scalar(database_url, "SELECT count(*) FROM seq_pending WHERE device_id = %s", dev.device_id) == 0
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT incident_key, count(*), sum(event_count) FROM incidents WHERE device_id = %s GROUP BY 1",
                (dev.device_id,),
            ).fetchall()
        assert len(rows) == situations
        assert all(count == 1 and events == n // situations for _, count, events in rows), rows
