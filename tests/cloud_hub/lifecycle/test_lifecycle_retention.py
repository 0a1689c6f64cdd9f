"""Retention removes exactly what is older than each window (drop_chunks then DELETE on hypertables, batched
DELETE on plain tables), and the evidence of deleted events with it (shared bytes stay while still used)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from lifecycle_rows import insert_events

from cloud_hub.evidence.retention import sweep_orphan_evidence
from cloud_hub.evidence.store import FilesystemEvidenceStore
from cloud_hub.store.retention import RetentionRule, enforce, enforce_all, hypertable_names

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def conn(database_url: str):
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def test_events_older_than_the_window_go_exactly(conn: psycopg.Connection) -> None:
    keep = timedelta(days=30)
    cutoff = NOW - keep
    # Spread over 100 days so that, on hypertables, whole chunks lie below the cutoff and one straddles it.
    times = [NOW - timedelta(days=d, hours=h) for d in range(0, 100, 3) for h in (0, 5)]
    times += [cutoff, cutoff - timedelta(microseconds=1), cutoff + timedelta(microseconds=1)]
    insert_events(conn, [("edge-r", t, "illegal_parking", None, "cam-1") for t in times])
    older = sum(1 for t in times if t < cutoff)
    hyper = "events" in hypertable_names(conn)

    result = enforce(conn, RetentionRule("events", "ts", keep), NOW, hypertable=hyper, batch_rows=7)
    left = [r[0] for r in conn.execute("SELECT ts FROM events WHERE device_id = 'edge-r'").fetchall()]
    assert sorted(left) == sorted(t for t in times if t >= cutoff)
    if hyper:
        assert result.chunks_dropped >= 1 and result.rows_deleted < older
    else:
        assert result.chunks_dropped == 0 and result.rows_deleted == older
    again = enforce(conn, RetentionRule("events", "ts", keep), NOW, hypertable=hyper)
    assert (again.chunks_dropped, again.rows_deleted) == (0, 0)


def test_enforce_all_skips_missing_tables_and_cleans_rollups(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO rollup_sla_daily_data (day, kind, due, met, breached, overdue_open, false_alarm)"
        " VALUES ('2020-01-01', 'k', 1, 1, 0, 0, 0), ('2026-05-30', 'k', 1, 1, 0, 0, 0)"
    )
    rules = [
        RetentionRule("rollup_sla_daily_data", "day", timedelta(days=365)),
        RetentionRule("no_such_table", "ts", timedelta(days=1)),
    ]
    results = enforce_all(conn, rules, NOW, batch_rows=1)
    assert [r.table for r in results] == ["rollup_sla_daily_data"] and results[0].rows_deleted == 1
    assert conn.execute("SELECT count(*) FROM rollup_sla_daily_data").fetchone()[0] == 1


def jpeg(tag: str) -> bytes:
    return b"\xff\xd8\xff\xe0" + tag.encode() * 50


def test_evidence_of_deleted_events_goes_with_them(conn: psycopg.Connection, tmp_path: Path) -> None:
    store = FilesystemEvidenceStore(tmp_path)
    old = NOW - timedelta(days=10)
    kept_event = insert_events(conn, [("edge-e", NOW, "illegal_parking", None, "cam-1")])[0]
    gone_event, shared_gone = str(uuid.uuid4()), str(uuid.uuid4())  # events deleted by retention
    waiting = str(uuid.uuid4())  # picture uploaded recently, its event not here yet
    data = {name: jpeg(name) for name in ("kept", "gone", "shared", "waiting")}
    for event_id, name, stored_at in (
        (kept_event, "kept", old), (gone_event, "gone", old), (shared_gone, "shared", old),
        (waiting, "waiting", NOW - timedelta(hours=1)),
    ):  # fmt: skip
        sha = hashlib.sha256(data[name]).hexdigest()
        conn.execute(
            "INSERT INTO evidence (event_id, device_id, sha256, content_type, bytes, path, stored_at)"
            " VALUES (%s, 'edge-e', %s, 'image/jpeg', %s, %s, %s)",
            (event_id, sha, len(data[name]), store.put(sha, data[name]), stored_at),
        )
    # The kept event's second picture row shares bytes with a deleted event's picture.
    shared_sha = hashlib.sha256(data["shared"]).hexdigest()
    other = insert_events(conn, [("edge-e", NOW, "illegal_parking", None, "cam-1")])[0]
    conn.execute(
        "INSERT INTO evidence (event_id, device_id, sha256, content_type, bytes, path)"
        " VALUES (%s, 'edge-e', %s, 'image/jpeg', 1, 'x')",
        (other, shared_sha),
    )

    result = sweep_orphan_evidence(conn, store, NOW, timedelta(days=1), batch=1)
    assert (result.rows, result.files) == (2, 1)
    remaining = {r[0] for r in conn.execute("SELECT event_id::text FROM evidence").fetchall()}
    assert remaining == {kept_event, waiting, other}
    assert not store.exists(hashlib.sha256(data["gone"]).hexdigest())
    assert all(store.exists(hashlib.sha256(data[n]).hexdigest()) for n in ("kept", "shared", "waiting"))
    assert sweep_orphan_evidence(conn, store, NOW, timedelta(days=1)).rows == 0
