"""The live channel's table on a real database: what the triggers write for each change, the delivery horizon
(nothing committed out of order is ever skipped), and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from live_testkit import GRID2, ingest_events, work_order_of

from cloud_hub.live import store
from cloud_hub.live.messages import START, Position
from cloud_hub.workorders.state_machine import Actor, Status
from cloud_hub.workorders.store import apply_transition


def _after(conn: psycopg.Connection, position: Position) -> list:
    return store.read_after(conn, position).messages


def test_an_incident_and_its_dispatched_work_order_are_messages(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        start = store.head(conn)
        with conn.transaction():
            ingest_events(conn, "live/store/1")
        found = _after(conn, start)
    assert [(m.topic, m.op) for m in found] == [("incident", "opened"), ("work_order", "created")]
    incident, order = found
    assert (incident.grid_id, incident.district, incident.kind) == ("nj-gulou-01", "nj-gulou", "illegal_parking")
    assert orjson.loads(incident.data_json)["incident_key"] == "live/store/1"
    data = orjson.loads(order.data_json)
    assert data["work_order"]["status"] == "dispatched" and order.assignee == "officer1"
    assert data["work_order"]["lon"] is not None and data["work_order"]["camera_id"] is None
    assert [s["to"] for s in data["steps"]] == ["reported", "registered", "dispatched"]


def test_every_transition_is_one_message_with_its_steps(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with conn.transaction():
            ingest_events(conn, "live/store/2")
        order_id = work_order_of(conn, "live/store/2")
        start = store.head(conn)
        with conn.transaction():
            apply_transition(conn, order_id, Status.ACCEPTED, Actor("officer1", "officer"), note="on my way")
        with conn.transaction():  # a reassignment is two steps in one transition
            apply_transition(conn, order_id, Status.REASSIGNED, Actor("commander1", "commander"), assignee="officer2")
        found = _after(conn, start)
    ops = [(m.topic, m.op, m.assignee) for m in found]
    assert ops == [
        ("work_order", "transition", "officer1"),
        ("work_order", "unassigned", "officer1"),  # to the officer it was taken from
        ("work_order", "transition", "officer2"),
    ]
    accepted = orjson.loads(found[0].data_json)
    assert accepted["steps"][0] | {"at": None} == {
        "from": "dispatched", "to": "accepted", "actor": "officer1", "role": "officer", "assignee": "officer1",
        "note": "on my way", "at": None,
    }  # fmt: skip
    reassigned = orjson.loads(found[2].data_json)
    assert [s["to"] for s in reassigned["steps"]] == ["reassigned", "dispatched"]
    assert found[1].grid_id is None and orjson.loads(found[1].data_json)["work_order"]["assignee"] == "officer2"


def test_an_incident_that_ends_and_its_severity_changes_are_messages(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with conn.transaction():
            ingest_events(conn, "live/store/3", location=GRID2)
        start = store.head(conn)
        with conn.transaction():
            ingest_events(conn, "live/store/3", phases=("end",), location=GRID2, seq_from=10)
        found = _after(conn, start)
    assert ("incident", "ended") in [(m.topic, m.op) for m in found]
    assert {m.grid_id for m in found if m.topic == "incident"} == {"nj-gulou-02"}


def test_devices_without_their_secret_and_modes(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        start = store.head(conn)
        conn.execute("INSERT INTO devices (device_id, kind, secret_hash) VALUES ('live-dev-1', 'edge', 'HASH')")
        conn.execute("UPDATE devices SET online = true, last_seen = now() WHERE device_id = 'live-dev-1'")
        conn.execute("UPDATE devices SET last_seen = now() WHERE device_id = 'live-dev-1'")  # nothing watched changed
        conn.execute("UPDATE devices SET health = '{\"outbox_depth\": 3}' WHERE device_id = 'live-dev-1'")
        conn.execute("UPDATE hub_modes SET enabled = true, changed_by = 'commander1', changed_at = now()")
        found = _after(conn, start)
    assert [(m.topic, m.op) for m in found] == [
        ("device", "provisioned"),
        ("device", "online"),
        ("device", "health"),
        ("mode", "enabled"),
    ]
    assert all("secret_hash" not in m.data_json and "HASH" not in m.data_json for m in found)
    assert found[0].device_id == "live-dev-1"


def test_a_later_commit_waits_behind_an_older_open_transaction(database_url: str) -> None:
    """T1 takes its transaction id first but commits last: T2's message must not be delivered before T1's,
    or a client resuming after T2's position would never see T1's."""
    with (
        psycopg.connect(database_url, autocommit=True) as reader,
        psycopg.connect(database_url) as t1,
        psycopg.connect(database_url) as t2,
    ):
        start = store.head(reader)
        t1.execute("UPDATE hub_modes SET note = 'first', changed_at = now()")  # T1 now holds the older xid
        t2.execute("INSERT INTO devices (device_id, kind, secret_hash) VALUES ('live-dev-2', 'edge', 'x')")
        t2.commit()
        blocked = store.read_after(reader, start)
        assert blocked.messages == [] and blocked.pending  # committed, but behind the open T1
        t1.commit()
        found = store.read_after(reader, start)
    assert [m.topic for m in found.messages] == ["mode", "device"] and not found.pending
    assert found.messages[0].position < found.messages[1].position


def test_head_and_read_after_resume_exactly(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        start = store.head(conn)
        for n in range(5):
            conn.execute("UPDATE hub_modes SET note = %s, changed_at = now()", (f"note {n}",))
        everything = _after(conn, start)
        assert len(everything) == 5 and store.head(conn) == everything[-1].position
        assert _after(conn, everything[1].position) == everything[2:]


def test_prune_deletes_old_messages_and_remembers_how_far(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE hub_modes SET note = 'old', changed_at = now()")
        old = store.head(conn)
        conn.execute("UPDATE live_messages SET at = at - interval '1 hour'")
        conn.execute("UPDATE hub_modes SET note = 'new', changed_at = now()")
        assert store.prune(conn, datetime.now(UTC) - timedelta(minutes=30)) >= 1
        assert store.pruned_through(conn) == old
        remaining = _after(conn, START)
        assert [orjson.loads(m.data_json)["note"] for m in remaining] == ["new"]
        assert store.prune(conn, datetime.now(UTC) - timedelta(minutes=30)) == 0
        assert store.pruned_through(conn) == old


def test_a_photo_added_to_an_order_is_a_message(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with conn.transaction():
            ingest_events(conn, "live/store/photo")
        order_id = work_order_of(conn, "live/store/photo")
        start = store.head(conn)
        conn.execute(
            "INSERT INTO work_order_photos (work_order_id, uploaded_by, sha256, content_type, bytes, width, height)"
            " VALUES (%s, 'officer1', %s, 'image/jpeg', 10, 4, 3)",
            (order_id, "a" * 64),
        )
        found = _after(conn, start)
    assert [(m.topic, m.op, m.assignee) for m in found] == [("work_order", "photo", "officer1")]
    data = orjson.loads(found[0].data_json)
    assert data["work_order"]["id"] == order_id and data["photos"][0]["uploaded_by"] == "officer1"


def test_a_mere_refresh_goes_out_at_most_every_30_seconds_a_change_at_once(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        with conn.transaction():
            ingest_events(conn, "live/store/refresh")
        incident_id = conn.execute("SELECT id FROM incidents WHERE incident_key = 'live/store/refresh'").fetchone()[0]
        conn.execute(
            "UPDATE incidents SET last_seen = to_timestamp(floor(extract(epoch FROM now()) / 30) * 30) WHERE id = %s",
            (incident_id,),
        )
        start = store.head(conn)
        step = "UPDATE incidents SET last_seen = last_seen + %s::interval, event_count = event_count + 1 WHERE id = %s"
        conn.execute(step, ("10 seconds", incident_id))  # same 30 s slot: quiet
        conn.execute(step, ("10 seconds", incident_id))  # still the same slot
        assert _after(conn, start) == []
        conn.execute(step, ("15 seconds", incident_id))  # into the next slot: one refresh
        conn.execute("UPDATE incidents SET severity = 'red' WHERE id = %s", (incident_id,))  # a change: at once
        found = _after(conn, start)
    assert [(m.op, orjson.loads(m.data_json)["severity"]) for m in found] == [("updated", "yellow"), ("updated", "red")]


def test_a_command_result_is_a_device_message(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        start = store.head(conn)
        conn.execute(
            "INSERT INTO cmd_results (device_id, cmd_id, ok, detail, payload) VALUES ('live-dev-9', 'c-1', true,"
            " 'pong', '{}')"
        )
        found = _after(conn, start)
    assert [(m.topic, m.op, m.device_id) for m in found] == [("device", "command", "live-dev-9")]
    assert orjson.loads(found[0].data_json) | {"received_at": None} == {
        "device_id": "live-dev-9", "cmd_id": "c-1", "ok": True, "detail": "pong", "received_at": None,
    }  # fmt: skip
