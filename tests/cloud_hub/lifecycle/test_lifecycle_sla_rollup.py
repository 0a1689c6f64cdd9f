"""SLA per due day: due, met, breached, overdue open and false alarms counted right; refresh idempotent and
incremental (a changed order's day is recomputed even when it is outside the lookback)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cloud_hub.store.sla_rollup import refresh_sla_daily


def figures(conn: psycopg.Connection) -> dict[tuple, tuple]:
    rows = conn.execute(
        "SELECT day, kind, district, due, met, breached, overdue_open, false_alarm FROM rollup_sla_daily"
    ).fetchall()
    return {tuple(r[:3]): tuple(r[3:]) for r in rows}


def add_order(conn: psycopg.Connection, status: str, due: datetime, district: str | None, resolved: datetime | None):
    incident = conn.execute(
        "INSERT INTO incidents (device_id, incident_key, kind, severity, status, first_event_id, last_event_id,"
        " first_seen, last_seen) VALUES ('edge-1', gen_random_uuid()::text, 'illegal_parking', 'orange', 'open',"
        " gen_random_uuid(), gen_random_uuid(), now(), now()) RETURNING id"
    ).fetchone()[0]
    order = conn.execute(
        "INSERT INTO work_orders (incident_id, kind, severity, status, district, due_at)"
        " VALUES (%s, 'illegal_parking', 'orange', %s, %s, %s) RETURNING id",
        (incident, status, district, due),
    ).fetchone()[0]
    if resolved is not None:
        conn.execute(
            "INSERT INTO work_order_transitions (work_order_id, from_status, to_status, actor, role, at)"
            " VALUES (%s, 'on_site', 'resolved', 'off', 'officer', %s)",
            (order, resolved),
        )
    return order


@pytest.fixture(scope="module")
def conn(database_url: str):
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def test_figures_idempotence_and_incremental_refresh(conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    old_due = (now - timedelta(days=5)).replace(hour=10, minute=0, second=0, microsecond=0)
    old_day = old_due.date()
    add_order(conn, "closed", old_due, "d-1", old_due - timedelta(hours=1))  # met
    add_order(conn, "verified", old_due, "d-1", old_due + timedelta(hours=1))  # resolved late: breached
    late = add_order(conn, "dispatched", old_due, "d-1", None)  # open past its deadline
    add_order(conn, "false_alarm", old_due, "d-1", None)
    passed, future = now - timedelta(minutes=30), now + timedelta(days=3)
    add_order(conn, "on_site", passed, None, None)
    add_order(conn, "accepted", future, "d-1", None)
    kind = "illegal_parking"

    report = refresh_sla_daily(conn, now)
    assert report.full
    expected = {
        (old_day, kind, "d-1"): (3, 1, 2, 1, 1),
        (passed.date(), kind, None): (1, 0, 1, 1, 0),
        (future.date(), kind, "d-1"): (1, 0, 0, 0, 0),
    }
    assert figures(conn) == expected
    again = refresh_sla_daily(conn, now + timedelta(seconds=1))
    assert not again.full and figures(conn) == expected

    # The overdue order is resolved now: its day (outside the lookback) is recomputed because the order changed.
    conn.execute("UPDATE work_orders SET status = 'resolved', updated_at = now() WHERE id = %s", (late,))
    conn.execute(
        "INSERT INTO work_order_transitions (work_order_id, from_status, to_status, actor, role)"
        " VALUES (%s, 'on_site', 'resolved', 'off', 'officer')",
        (late,),
    )
    refresh_sla_daily(conn, datetime.now(UTC))
    assert figures(conn)[(old_day, kind, "d-1")] == (3, 1, 2, 0, 1)

    # Another time zone moves day boundaries: the first refresh for it rebuilds everything.
    assert refresh_sla_daily(conn, datetime.now(UTC), "Asia/Shanghai").full
    assert sum(f[0] for f in figures(conn).values()) == 5


def test_naive_now_is_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        refresh_sla_daily(conn, datetime(2026, 1, 1))
