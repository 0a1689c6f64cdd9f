"""Incident reads over HTTP on a real database, for every role: scope, filters, work-order summaries, timeline.

The city is `reads_world`'s: car-1..3 and fault in district nj-gulou, water (red, overdue) in nj-xuanwu.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from reads_world import XUANWU, World

from cloud_hub.store.events import incident_events

PARKING = ("car-1", "car-2", "car-3")


def listed(client: TestClient, world: World, user: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/incidents", params=params, headers=world.as_(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["data"])  # every test page holds all matches
    return body["data"]


def keys(world: World, rows: list[dict[str, Any]]) -> set[str]:
    by_id = {v: k for k, v in world.incidents.items()}
    return {by_id[row["id"]] for row in rows}


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("admin", {*PARKING, "fault", "water"}),
        ("commander1", {*PARKING, "fault", "water"}),  # no districts: the whole city
        ("cmd-gulou", {*PARKING, "fault"}),
        ("cmd-xuanwu", {"water"}),
        ("officer1", {"car-1", "fault"}),  # grid 01
        ("officer2", {"car-2"}),
        ("officer3", {"car-3"}),  # grid 03, though the order went to officer9
        ("officer9", {"car-3"}),  # no grid: only the order assigned to them
        ("officer7", {"water"}),
        ("tech1", {"fault"}),  # camera faults only
    ],
)
def test_list_is_scoped_by_role(client: TestClient, world: World, user: str, expected: set[str]) -> None:
    assert keys(world, listed(client, world, user)) == expected


@pytest.mark.parametrize(
    ("user", "visible", "hidden"),
    [
        ("cmd-xuanwu", "water", "car-1"),
        ("officer2", "car-2", "car-1"),
        ("officer9", "car-3", "car-2"),
        ("tech1", "fault", "car-1"),
        ("officer7", "water", "fault"),
    ],
)
def test_detail_outside_scope_is_404(client: TestClient, world: World, user: str, visible: str, hidden: str) -> None:
    ok = client.get(f"/api/v1/incidents/{world.incidents[visible]}", headers=world.as_(user))
    assert ok.status_code == 200 and ok.json()["id"] == world.incidents[visible]
    for path in (
        f"/api/v1/incidents/{world.incidents[hidden]}",
        f"/api/v1/incidents/{world.incidents[hidden]}/timeline",
    ):
        refused = client.get(path, headers=world.as_(user))
        assert refused.status_code == 404 and "not found" in refused.json()["detail"]
    assert client.get("/api/v1/incidents/999999", headers=world.as_("admin")).status_code == 404


def test_rows_carry_their_work_order_summary(client: TestClient, world: World) -> None:
    rows = {row["id"]: row for row in listed(client, world, "admin")}
    car3 = rows[world.incidents["car-3"]]["work_order"]
    assert car3["id"] == world.orders["car-3"] and car3["assignee"] == "officer9"
    assert car3["status"] == "dispatched" and car3["due_at"] is not None and car3["overdue"] is False
    water = rows[world.incidents["water"]]["work_order"]
    assert water["overdue"] is True and water["assignee"] == "officer7"
    assert rows[world.incidents["car-1"]]["work_order"]["status"] == "verified"
    assert rows[world.incidents["car-2"]]["work_order"]["status"] == "false_alarm"


def test_filters(client: TestClient, world: World) -> None:
    def find(**params: Any) -> set[str]:
        return keys(world, listed(client, world, "admin", **params))

    hour_ago = (world.now - timedelta(hours=1)).isoformat()
    assert find(kind=["camera_fault", "waterlogging"]) == {"fault", "water"}
    assert find(severity="red") == {"water"}
    assert find(severity=["red", "blue"]) == {"water", "fault"}
    assert find(grid_id="nj-gulou-01") == {"car-1", "fault"}
    assert find(district="nj-xuanwu") == {"water"}
    assert find(camera_id="cam-demo-01") == {"car-1", "fault"}
    assert find(device_id="edge-xw-01") == {"water"}
    assert find(since=hour_ago) == {*PARKING, "fault"}
    assert find(until=hour_ago) == {"water"}
    assert find(overdue="true") == {"water"}
    assert find(overdue="false") == {*PARKING, "fault"}
    xuanwu = f"{XUANWU['west']},{XUANWU['south']},{XUANWU['east']},{XUANWU['north']}"
    assert find(bbox=xuanwu) == {"water"}
    assert find(bbox="118.794,32.058,118.801,32.064") == {"car-1", "fault"}  # demo grid 01
    assert find(status=["open", "ended", "closed"]) == {*PARKING, "fault", "water"}
    assert find(kind="illegal_parking", camera_id="cam-demo-02") == {"car-2"}
    # Scope and filters together: a commander filtering outside their district finds nothing.
    assert keys(world, listed(client, world, "cmd-xuanwu", district="nj-gulou")) == set()


def test_sorting_and_paging(client: TestClient, world: World) -> None:
    by_severity = listed(client, world, "admin", sort="severity")
    assert by_severity[0]["id"] == world.incidents["water"] and by_severity[-1]["id"] == world.incidents["fault"]
    assert [r["severity"] for r in by_severity] == ["red", "yellow", "yellow", "yellow", "blue"]
    assert listed(client, world, "admin", sort="first_seen")[-1]["id"] == world.incidents["water"]
    assert listed(client, world, "admin")[-1]["id"] == world.incidents["water"]  # last_seen, newest first
    page = client.get("/api/v1/incidents", params={"limit": 2, "offset": 1}, headers=world.as_("admin")).json()
    assert page["count"] == 5 and len(page["data"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"until": "2026-01-01T00:00:00"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "118.9,32,118.8,33"}, "bbox"),
        ({"bbox": "west,south,east,north"}, "bbox"),
        ({"severity": "pink"}, "severity"),
        ({"status": "lost"}, "status"),
        ({"sort": "colour"}, "sort"),
        ({"limit": 0}, "limit"),
    ],
)
def test_bad_filters_name_the_field(client: TestClient, world: World, params: dict[str, Any], field: str) -> None:
    response = client.get("/api/v1/incidents", params=params, headers=world.as_("admin"))
    assert response.status_code == 422 and field in response.text


def test_timeline(client: TestClient, world: World) -> None:
    response = client.get(f"/api/v1/incidents/{world.incidents['car-1']}/timeline", headers=world.as_("officer1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["incident"]["id"] == world.incidents["car-1"] and body["truncated"] is False
    order = body["work_order"]
    assert order["id"] == world.orders["car-1"] and order["status"] == "verified"
    moves = [(t["to_status"], t["actor"]) for t in order["transitions"]]
    assert moves[-4:] == [
        ("accepted", "officer1"),
        ("on_site", "officer1"),
        ("resolved", "officer1"),
        ("verified", "commander1"),
    ]
    events = body["events"]
    assert [e["event_id"] for e in events] == [world.events["car-1/start"], world.events["car-1/update"]]
    start = events[0]
    assert start["phase"] == "start" and start["confidence"] == pytest.approx(0.9)
    assert start["model"]["sha256"] == "a" * 64 and start["rule"] == {"id": "no-parking", "version": 2}
    assert start["measurements"] == {"dwell_s": 120}
    assert start["evidence_url"] == f"/api/v1/evidence/{world.events['car-1/start']}"
    assert events[1]["evidence_url"] is None


def test_timeline_for_a_technician_and_the_cap(client: TestClient, world: World, database_url: str) -> None:
    fault = client.get(f"/api/v1/incidents/{world.incidents['fault']}/timeline", headers=world.as_("tech1")).json()
    assert [e["event_id"] for e in fault["events"]] == [world.events["fault/start"]]
    with psycopg.connect(database_url) as conn:
        newest, truncated = incident_events(conn, world.incidents["car-1"], limit=1)
        assert truncated is True and [e["event_id"] for e in newest] == [world.events["car-1/update"]]
        both, truncated = incident_events(conn, world.incidents["car-1"], limit=2)
        assert truncated is False and len(both) == 2


def test_operation_ids(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/incidents"]["get"]["operationId"] == "list_incidents"
    assert paths["/api/v1/incidents/{incident_id}"]["get"]["operationId"] == "get_incident"
    assert paths["/api/v1/incidents/{incident_id}/timeline"]["get"]["operationId"] == "get_incident_timeline"
