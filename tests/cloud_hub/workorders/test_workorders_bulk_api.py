"""Bulk actions of the command centre: each order through the same transition in its own savepoint, answered per
id; unassign takes orders back to registered with nobody assigned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient
from workorder_rows import add_order, add_user, login, order

GRID1 = "nj-gulou-01"


def bulk(client: TestClient, user: str, **body: object):
    return client.post("/api/v1/work-orders/bulk", json=body, headers=login(client, user))


def test_reassign_many_with_a_result_per_order(client: TestClient, conn: psycopg.Connection) -> None:
    overdue = datetime.now(UTC) - timedelta(hours=1)
    a = add_order(conn, assignee="officer1", grid_id=GRID1, due=overdue)
    b = add_order(conn, status="accepted", assignee="officer1", grid_id=GRID1, due=overdue)
    closed = add_order(conn, status="closed", assignee="officer1", grid_id=GRID1)
    response = bulk(client, "commander1", ids=[b, a, 999_999, closed, a], action="reassign", assignee="officer2",
                    note="officer1 is off sick")  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["results"]] == [b, a, 999_999, closed]  # request order, duplicates once
    by_id = {r["id"]: r for r in body["results"]}
    assert by_id[a] == {"id": a, "ok": True, "status": "dispatched", "assignee": "officer2", "error": None}
    assert by_id[b]["ok"] and not by_id[999_999]["ok"] and "not found" in by_id[999_999]["error"]
    assert not by_id[closed]["ok"] and "cannot go to reassigned" in by_id[closed]["error"]
    assert (body["succeeded"], body["failed"]) == (2, 2)
    assert order(conn, a)["due_at"] > datetime.now(UTC)  # a new deadline for the new officer
    notes = conn.execute(
        "SELECT DISTINCT note, actor FROM work_order_transitions WHERE work_order_id = ANY(%s) AND to_status IN"
        " ('reassigned', 'dispatched') AND actor = 'commander1'",
        ([a, b],),
    ).fetchall()
    assert notes == [("officer1 is off sick", "commander1")]


def test_unassign_and_escalate(client: TestClient, conn: psycopg.Connection) -> None:
    held = [add_order(conn, status=s, assignee="officer1", grid_id=GRID1) for s in ("dispatched", "accepted")]
    on_site = add_order(conn, status="on_site", assignee="officer1", grid_id=GRID1)
    unassigned = bulk(client, "commander1", ids=[*held, on_site], action="unassign").json()
    assert [r["ok"] for r in unassigned["results"]] == [True, True, False]
    assert all(order(conn, i)["status"] == "registered" and order(conn, i)["assignee"] is None for i in held)
    assert order(conn, on_site)["status"] == "on_site"

    escalated = bulk(client, "commander1", ids=held, action="escalate").json()
    assert escalated["succeeded"] == 2
    assert {order(conn, i)["assignee"] for i in held} == {"commander1"}  # the demo grids' supervisor


def test_bulk_is_for_reviewers_within_their_scope(client: TestClient, conn: psycopg.Connection) -> None:
    order_id = add_order(conn, assignee="officer1", grid_id=GRID1, district="nj-gulou")
    assert bulk(client, "officer1", ids=[order_id], action="unassign").status_code == 403
    add_user(conn, "bulk-east", "commander", districts=("east",))
    outside = bulk(client, "bulk-east", ids=[order_id], action="unassign").json()
    assert outside["results"][0]["ok"] is False and "not found" in outside["results"][0]["error"]
    assert order(conn, order_id)["status"] == "dispatched"


def test_bulk_requests_are_checked(client: TestClient) -> None:
    no_assignee = bulk(client, "commander1", ids=[1], action="reassign")
    assert no_assignee.status_code == 422 and "reassign needs the officer" in no_assignee.text
    assert bulk(client, "commander1", ids=[1], action="unassign", assignee="officer2").status_code == 422
    assert bulk(client, "commander1", ids=[], action="unassign").status_code == 422
    assert bulk(client, "commander1", ids=[1], action="close").status_code == 422
