"""The work-order API over HTTP on a real database: who sees which orders (scope), the detail's place, incident,
model and rule, the list's filters and sorts, and the transitions' new rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from workorder_rows import add_grid, add_order, add_user, login

NOW = datetime.now(UTC)
GRID1, GRID2, GRID3 = "nj-gulou-01", "nj-gulou-02", "nj-gulou-03"  # demo grids of officer1, 2, 3
MODEL = {"name": "yolov8n-parking", "version": "3", "sha256": "ab" * 32}
RULE = {"id": "no-parking-a", "version": 2}


@pytest.fixture(scope="module")
def orders(client: TestClient, conn: psycopg.Connection) -> dict[str, int]:
    """Orders in the demo district nj-gulou (commander1 supervises every grid) and one in another district."""
    add_user(conn, "cmd-east", "commander", districts=("east",))
    add_user(conn, "officer-sup", "officer")
    east_grid = add_grid(conn, supervisor="officer-sup", district="east")
    return {
        "grid1_officer1": add_order(conn, assignee="officer1", grid_id=GRID1, district="nj-gulou", severity="yellow",
                                    due=NOW + timedelta(hours=3), model=MODEL, rule=RULE),
        "grid1_officer2": add_order(conn, assignee="officer2", grid_id=GRID1, district="nj-gulou", severity="red",
                                    due=NOW + timedelta(hours=5), created=NOW - timedelta(days=2)),
        "grid2_officer1": add_order(conn, assignee="officer1", grid_id=GRID2, district="nj-gulou", severity="blue",
                                    due=NOW - timedelta(hours=1)),
        "grid3_officer3": add_order(conn, assignee="officer3", grid_id=GRID3, district="nj-gulou", severity="red",
                                    due=NOW - timedelta(minutes=10)),
        "east": add_order(conn, assignee="officer-sup", grid_id=east_grid, district="east", severity="orange",
                          due=NOW + timedelta(hours=1)),
    }  # fmt: skip


def ids(response) -> set[int]:
    assert response.status_code == 200, response.text
    return {o["id"] for o in response.json()["data"]}


def test_officers_see_their_grids_and_their_own_orders(client: TestClient, orders: dict[str, int]) -> None:
    officer1 = login(client, "officer1")
    listed = ids(client.get("/api/v1/work-orders", headers=officer1))
    assert listed == {orders["grid1_officer1"], orders["grid1_officer2"], orders["grid2_officer1"]}
    assert client.get(f"/api/v1/work-orders/{orders['grid1_officer2']}", headers=officer1).status_code == 200
    hidden = client.get(f"/api/v1/work-orders/{orders['grid3_officer3']}", headers=officer1)
    missing = client.get("/api/v1/work-orders/999999", headers=officer1)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == f"work order {orders['grid3_officer3']} not found"
    # A supervising officer sees the grids they supervise.
    assert ids(client.get("/api/v1/work-orders", headers=login(client, "officer-sup"))) == {orders["east"]}
    mine = client.get("/api/v1/work-orders", params={"assignee": "officer1"}, headers=officer1)
    assert ids(mine) == {orders["grid1_officer1"], orders["grid2_officer1"]}
    assert client.get("/api/v1/work-orders", params={"assignee": "officer2"}, headers=officer1).status_code == 403


def test_commanders_see_their_districts_or_the_whole_city(client: TestClient, orders: dict[str, int]) -> None:
    assert ids(client.get("/api/v1/work-orders", headers=login(client, "cmd-east"))) == {orders["east"]}
    assert (
        client.get(f"/api/v1/work-orders/{orders['grid1_officer1']}", headers=login(client, "cmd-east")).status_code
        == 404
    )
    assert ids(client.get("/api/v1/work-orders", headers=login(client, "commander1"))) == set(orders.values())
    assert client.get("/api/v1/work-orders", headers=login(client, "tech1")).status_code == 403
    assert client.get(f"/api/v1/work-orders/{orders['east']}", headers=login(client, "tech1")).status_code == 403


def test_detail_has_the_place_incident_model_and_rule(client: TestClient, orders: dict[str, int]) -> None:
    order_id = orders["grid1_officer1"]
    listed = next(
        o for o in client.get("/api/v1/work-orders", headers=login(client, "officer1")).json()["data"]
        if o["id"] == order_id
    )  # fmt: skip
    detail = client.get(f"/api/v1/work-orders/{order_id}", headers=login(client, "officer1")).json()
    for field in ("camera_id", "lon", "lat", "evidence_event_id"):
        assert detail[field] is not None and detail[field] == listed[field], field
    incident = detail["incident"]
    assert incident["kind"] == "illegal_parking" and incident["status"] == "open"
    assert incident["confidence"] == pytest.approx(0.87) and incident["measurements"] == {"dwell_s": 120}
    assert incident["first_seen"] < incident["last_seen"]
    assert incident["model"] == MODEL and incident["rule"] == RULE
    assert detail["photos"] == [] and "accepted" in detail["allowed"]
    without_refs = client.get(f"/api/v1/work-orders/{orders['east']}", headers=login(client, "commander1")).json()
    assert without_refs["incident"]["model"] is None and without_refs["incident"]["rule"] is None


def test_list_filters(client: TestClient, orders: dict[str, int]) -> None:
    commander = login(client, "commander1")

    def query(**params: object) -> set[int]:
        return ids(client.get("/api/v1/work-orders", params=params, headers=commander))

    assert query(grid_id=GRID1) == {orders["grid1_officer1"], orders["grid1_officer2"]}
    assert query(district="east") == {orders["east"]}
    assert query(overdue=True) == {orders["grid2_officer1"], orders["grid3_officer3"]}
    assert orders["grid2_officer1"] not in query(overdue=False)
    assert query(due_before=(NOW + timedelta(minutes=90)).isoformat()) == {
        orders["grid2_officer1"], orders["grid3_officer3"], orders["east"]
    }  # fmt: skip
    assert orders["grid1_officer2"] not in query(created_since=(NOW - timedelta(days=1)).isoformat())
    naive = client.get("/api/v1/work-orders", params={"due_before": "2026-11-23T10:00:00"}, headers=commander)
    assert naive.status_code == 422 and "due_before" in naive.text
    assert client.get("/api/v1/work-orders", params={"sort": "oldest"}, headers=commander).status_code == 422


def test_sorts(client: TestClient, orders: dict[str, int]) -> None:
    commander = login(client, "commander1")

    def order_of(sort: str | None) -> list[int]:
        params = {"sort": sort} if sort else {}
        return [o["id"] for o in client.get("/api/v1/work-orders", params=params, headers=commander).json()["data"]]

    urgency = [orders[k] for k in ("grid3_officer3", "grid1_officer2", "east", "grid1_officer1", "grid2_officer1")]
    assert order_of(None) == order_of("urgency") == urgency  # red by deadline, then orange, yellow, blue
    assert order_of("due") == [
        orders[k] for k in ("grid2_officer1", "grid3_officer3", "east", "grid1_officer1", "grid1_officer2")
    ]
    assert order_of("newest")[-1] == orders["grid1_officer2"]  # created two days ago


def test_the_assignee_may_flag_a_false_alarm_only_before_resolving(
    client: TestClient, conn: psycopg.Connection
) -> None:
    order_id = add_order(conn, status="resolved", assignee="officer1", handled_by="officer1", grid_id=GRID1)
    url = f"/api/v1/work-orders/{order_id}/transitions"
    refused = client.post(url, json={"to": "false_alarm"}, headers=login(client, "officer1"))
    assert refused.status_code == 403 and "commander or admin" in refused.json()["detail"]
    assert client.post(url, json={"to": "false_alarm"}, headers=login(client, "commander1")).status_code == 200
    incident_status = conn.execute(
        "SELECT i.status FROM incidents i JOIN work_orders w ON w.incident_id = i.id WHERE w.id = %s", (order_id,)
    ).fetchone()[0]
    assert incident_status == "closed"


def test_reassigning_over_http_gives_a_new_deadline(client: TestClient, conn: psycopg.Connection) -> None:
    order_id = add_order(conn, assignee="officer1", grid_id=GRID1, severity="red", due=NOW - timedelta(hours=2))
    moved = client.post(
        f"/api/v1/work-orders/{order_id}/transitions",
        json={"to": "reassigned", "assignee": "officer2"},
        headers=login(client, "commander1"),
    )
    assert moved.status_code == 200, moved.text
    due = datetime.fromisoformat(moved.json()["due_at"])
    assert due > datetime.now(UTC) + timedelta(minutes=10)  # red parking: 15 minutes around the clock, from now


def test_operation_ids(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/work-orders"]["get"]["operationId"] == "list_work_orders"
    assert paths["/api/v1/work-orders/{order_id}"]["get"]["operationId"] == "get_work_order"
    assert paths["/api/v1/work-orders/{order_id}/transitions"]["post"]["operationId"] == "transition_work_order"
    assert paths["/api/v1/work-orders/bulk"]["post"]["operationId"] == "bulk_work_orders"
    photos = "/api/v1/work-orders/{order_id}/photos"
    assert paths[photos]["post"]["operationId"] == "add_work_order_photo"
    assert paths[photos]["get"]["operationId"] == "list_work_order_photos"
    assert paths[photos + "/{photo_id}"]["get"]["operationId"] == "get_work_order_photo"
    assert "image/jpeg" in paths[photos]["post"]["requestBody"]["content"]


def test_open_filter_is_every_status_someone_still_acts_on(client: TestClient, conn: psycopg.Connection) -> None:
    closed = add_order(conn, status="closed", assignee="officer1", grid_id=GRID1)
    resolved = add_order(conn, status="resolved", assignee="officer1", handled_by="officer1", grid_id=GRID1)
    officer = login(client, "officer1")

    def query(**params: object) -> set[int]:
        return ids(client.get("/api/v1/work-orders", params={"limit": 1000, **params}, headers=officer))

    assert resolved in query(open=True) and closed not in query(open=True)
    assert closed in query(open=False) and resolved not in query(open=False)
    assert query(open=True) | query(open=False) == query()
