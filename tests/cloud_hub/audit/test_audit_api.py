"""What people do through the hub lands in the audit log: logins and failed logins, admin changes, work-order
transitions (each checked by the verifier afterwards)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
from fastapi.testclient import TestClient

from cloud_hub.audit import store
from cloud_hub.audit.chain import verify_chain
from cloud_hub.workorders.store import NewWorkOrder, create_work_orders

ADMIN_PASSWORD = "admin-test-pw"  # conftest's hub settings


def last_entry(conn: psycopg.Connection, chain: str, **where: str) -> dict:
    clauses = "".join(f" AND {column} = %({column})s" for column in where)
    row = conn.execute(
        "SELECT seq, actor, role, action, entity, entity_id, detail FROM audit_log"
        f" WHERE chain = %(chain)s{clauses} ORDER BY seq DESC LIMIT 1",
        {"chain": chain, **where},
    ).fetchone()
    assert row is not None, f"no entry in {chain} with {where}"
    return dict(zip(("seq", "actor", "role", "action", "entity", "entity_id", "detail"), row, strict=True))


def intact(database_url: str, chain: str) -> None:
    with psycopg.connect(database_url) as c:
        report = verify_chain(chain, store.iter_chain(c, chain))
    assert report.ok, report.problem


def admin_headers(client: TestClient) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_failed_and_successful_logins(client: TestClient, conn: psycopg.Connection, database_url: str) -> None:
    refused = client.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"})
    assert refused.status_code == 401
    failed = last_entry(conn, "auth", action="login_failed")
    assert (failed["actor"], failed["role"], failed["entity_id"]) == ("admin", None, "admin")
    assert failed["detail"]["address"] == "testclient"
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody-" + "x" * 300, "password": "x"})
    assert unknown.status_code == 401
    assert last_entry(conn, "auth", action="login_failed")["actor"] == ("nobody-" + "x" * 300)[:200]

    admin_headers(client)
    login = last_entry(conn, "auth", action="login")
    assert (login["actor"], login["role"], login["seq"]) == ("admin", "admin", failed["seq"] + 2)
    intact(database_url, "auth")


def test_admin_change_appears(client: TestClient, conn: psycopg.Connection, database_url: str) -> None:
    created = client.post(
        "/api/v1/admin/users",
        json={"username": "audited1", "password": "a-long-password-1", "role": "officer"},
        headers=admin_headers(client),
    )
    assert created.status_code == 201, created.text
    entry = last_entry(conn, "admin", entity="user", entity_id="audited1")
    assert (entry["actor"], entry["role"], entry["action"]) == ("admin", "admin", "create")
    assert entry["detail"]["after"]["role"] == "officer"
    assert "password_hash" not in entry["detail"]["after"]
    intact(database_url, "admin")


def test_work_order_transitions_appear(client: TestClient, conn: psycopg.Connection, database_url: str) -> None:
    now, event_id = datetime.now(UTC), uuid.uuid4()
    incident = conn.execute(
        "INSERT INTO incidents (device_id, incident_key, kind, severity, status, first_event_id, last_event_id,"
        " first_seen, last_seen) VALUES ('edge-audit', %s, 'illegal_parking', 'orange', 'open', %s, %s, %s, %s)"
        " RETURNING id",
        (f"k-{event_id}", event_id, event_id, now, now),
    ).fetchone()[0]  # type: ignore[index]
    with psycopg.connect(database_url) as c:  # what ingest does: the system creates and registers the order
        [order_id] = create_work_orders(
            c, [NewWorkOrder(incident, "illegal_parking", None, "orange", None, None, None, None)]
        )
    chain = f"work_orders/{order_id % 16:02d}"
    moved = client.post(
        f"/api/v1/work-orders/{order_id}/transitions",
        json={"to": "false_alarm", "note": "shadow, not a car"},
        headers=admin_headers(client),
    )
    assert moved.status_code == 200, moved.text
    rows = conn.execute(
        "SELECT actor, role, action, detail -> 'steps' FROM audit_log"
        " WHERE chain = %s AND entity = 'work_order' AND entity_id = %s ORDER BY seq",
        (chain, str(order_id)),
    ).fetchall()
    steps = [[(s["from"], s["to"], s["note"]) for s in row[3]] for row in rows]
    assert [row[:3] for row in rows] == [("system", "system", "created"), ("admin", "admin", "transition")]
    assert steps == [
        [(None, "reported", "created from incident"), ("reported", "registered", None)],  # one entry per statement
        [("registered", "false_alarm", "shadow, not a car")],
    ]
    intact(database_url, chain)
