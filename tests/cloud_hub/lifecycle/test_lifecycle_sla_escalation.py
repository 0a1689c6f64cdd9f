"""The SLA timer: overdue work orders go to the grid's supervisor, with the system as actor in the audit trail;
orders not yet due, suspended or finished stay; an order without a supervisor is reported, not lost."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cloud_hub.auth.users import ensure_user
from cloud_hub.workorders.escalation import escalate_overdue


@pytest.fixture(scope="module")
def conn(database_url: str):
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def add_grid(conn: psycopg.Connection, supervisor: str | None) -> str:
    grid_id = f"grid-{uuid.uuid4().hex[:6]}"
    conn.execute(
        "INSERT INTO grids (grid_id, name, polygon, supervisor) VALUES (%s, 'g', %s, %s)",
        (grid_id, json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}), supervisor),
    )
    return grid_id


def add_order(conn: psycopg.Connection, status: str, due: datetime, grid_id: str, assignee: str | None) -> int:
    incident = conn.execute(
        "INSERT INTO incidents (device_id, incident_key, kind, severity, status, grid_id, first_event_id,"
        " last_event_id, first_seen, last_seen) VALUES ('edge-1', gen_random_uuid()::text, 'illegal_parking',"
        " 'orange', 'open', %s, gen_random_uuid(), gen_random_uuid(), now(), now()) RETURNING id",
        (grid_id,),
    ).fetchone()[0]
    return conn.execute(
        "INSERT INTO work_orders (incident_id, kind, severity, status, assignee, grid_id, due_at)"
        " VALUES (%s, 'illegal_parking', 'orange', %s, %s, %s, %s) RETURNING id",
        (incident, status, assignee, grid_id, due),
    ).fetchone()[0]


def state(conn: psycopg.Connection, order_id: int) -> tuple[str, str | None]:
    return conn.execute("SELECT status, assignee FROM work_orders WHERE id = %s", (order_id,)).fetchone()


def test_overdue_orders_go_to_the_supervisor_once_and_the_rest_stay(conn: psycopg.Connection) -> None:
    ensure_user(conn, "sup-1", "sup-password", "commander")
    ensure_user(conn, "off-1", "off-password", "officer")
    now = datetime.now(UTC)
    past, future = now - timedelta(minutes=10), now + timedelta(hours=2)
    grid = add_grid(conn, "sup-1")
    orphan_grid = add_grid(conn, None)
    dispatched = add_order(conn, "dispatched", past, grid, "off-1")
    on_site = add_order(conn, "on_site", past, grid, "off-1")
    registered = add_order(conn, "registered", past, grid, None)  # nobody was on duty: still escalates
    not_due = add_order(conn, "accepted", future, grid, "off-1")
    suspended = add_order(conn, "suspended", past, grid, "off-1")
    resolved = add_order(conn, "resolved", past, grid, "off-1")
    no_supervisor = add_order(conn, "dispatched", past, orphan_grid, "off-1")

    report = escalate_overdue(conn, now)

    assert sorted(report.escalated) == sorted([dispatched, on_site, registered])
    for order_id in (dispatched, on_site, registered):
        assert state(conn, order_id) == ("escalated", "sup-1")
        actor, role, note = conn.execute(
            "SELECT actor, role, note FROM work_order_transitions WHERE work_order_id = %s AND to_status = 'escalated'",
            (order_id,),
        ).fetchone()
        assert (actor, role) == ("system", "system") and "SLA breached" in note
    assert state(conn, not_due) == ("accepted", "off-1")
    assert state(conn, suspended) == ("suspended", "off-1")
    assert state(conn, resolved) == ("resolved", "off-1")
    assert state(conn, no_supervisor) == ("dispatched", "off-1")
    assert list(report.stuck) == [no_supervisor] and "supervisor" in report.stuck[no_supervisor]
    assert f"{no_supervisor} (" in report.describe()

    again = escalate_overdue(conn, now + timedelta(seconds=1))
    assert again.escalated == [] and list(again.stuck) == [no_supervisor]  # escalated ones are not moved twice
