"""The command centre's KPI endpoints over HTTP on a real database: summary, incidents per hour, precision, and
the rollup endpoints, scoped to a commander's districts; officers and technicians are refused.

The city is `reads_world`'s: in nj-gulou car-1 (verified: a true detection), car-2 (false alarm), car-3 and the
camera fault (open); in nj-xuanwu the water incident of 20 days ago (open, overdue).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from reads_world import World

from cloud_hub.store.capabilities import detect_capabilities
from cloud_hub.store.rollups import refresh_events_hourly
from cloud_hub.store.sla_rollup import refresh_sla_daily

STATS = ("summary", "incidents-hourly", "precision", "events-hourly", "sla-daily")


@pytest.fixture(scope="module")
def rolled_up(world: World, database_url: str) -> World:
    """The rollups refreshed as the scheduler does (it may run too; a refresh is idempotent)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        refresh_sla_daily(conn, world.now + timedelta(seconds=1))
        if detect_capabilities(conn).continuous_aggregates:
            conn.execute("CALL refresh_continuous_aggregate('rollup_events_hourly_cagg', NULL, NULL)")
        else:
            refresh_events_hourly(conn, world.now + timedelta(hours=1))
    return world


def wide(world: World) -> dict[str, str]:
    """A range holding the whole city's history and every deadline."""
    return {
        "since": (world.now - timedelta(days=25)).isoformat(),
        "until": (world.now + timedelta(days=15)).isoformat(),
    }


def get(client: TestClient, world: World, user: str, path: str, **params: Any) -> Any:
    response = client.get(f"/api/v1/stats/{path}", params=params, headers=world.as_(user))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("user", ["officer1", "officer9", "tech1"])
def test_officers_and_technicians_are_refused(client: TestClient, world: World, user: str) -> None:
    for path in STATS:
        assert client.get(f"/api/v1/stats/{path}", headers=world.as_(user)).status_code == 403


def test_summary_for_the_whole_city(client: TestClient, rolled_up: World) -> None:
    world = rolled_up
    open_yellow = client.get(
        "/api/v1/incidents", params={"status": "open", "severity": "yellow"}, headers=world.as_("admin")
    ).json()["count"]
    for user in ("admin", "commander1"):
        body = get(client, world, user, "summary", **wide(world))
        assert body["open_incidents_by_severity"] == {"red": 1, "orange": 0, "yellow": open_yellow, "blue": 1}
        assert body["opened_by_kind"] == [
            {"key": "illegal_parking", "count": 3},
            {"key": "camera_fault", "count": 1},
            {"key": "waterlogging", "count": 1},
        ]
        assert body["opened_by_district"] == [{"key": "nj-gulou", "count": 4}, {"key": "nj-xuanwu", "count": 1}]
        assert body["work_orders"] == {"open": 3, "overdue": 1, "closed": 2}  # car-3, fault, water; car-1, car-2
        assert body["sla"] == {"met": 1, "breached": 1, "compliance": 0.5}  # car-1 in time; water late
        assert body["fleet"] == {
            "total": 4,
            "online": 1,
            "stale": 1,
            "offline": 1,
            "never_seen": 1,
            "cameras_with_open_fault": 1,
        }
        assert (body["decided"], body["false_alarms"], body["false_alarm_rate"]) == (2, 1, 0.5)


def test_summary_of_a_commanders_district(client: TestClient, rolled_up: World) -> None:
    world = rolled_up
    body = get(client, world, "cmd-xuanwu", "summary", **wide(world))
    assert body["open_incidents_by_severity"] == {"red": 1, "orange": 0, "yellow": 0, "blue": 0}
    assert body["opened_by_kind"] == [{"key": "waterlogging", "count": 1}]
    assert body["opened_by_district"] == [{"key": "nj-xuanwu", "count": 1}]
    assert body["work_orders"] == {"open": 1, "overdue": 1, "closed": 0}
    assert body["sla"] == {"met": 0, "breached": 1, "compliance": 0.0}
    assert body["fleet"]["total"] == 4 and body["fleet"]["cameras_with_open_fault"] == 0  # devices: city-wide
    assert (body["decided"], body["false_alarms"], body["false_alarm_rate"]) == (0, 0, None)


def test_summary_of_the_last_hour(client: TestClient, world: World) -> None:
    body = get(client, world, "cmd-gulou", "summary", since=(world.now - timedelta(hours=1)).isoformat())
    assert {r["key"]: r["count"] for r in body["opened_by_kind"]} == {"illegal_parking": 3, "camera_fault": 1}
    assert body["work_orders"]["closed"] == 2 and body["work_orders"]["overdue"] == 0
    assert body["false_alarm_rate"] == 0.5


def test_incidents_hourly(client: TestClient, world: World) -> None:
    def totals(user: str, **params: Any) -> dict[tuple[str | None, ...], int]:
        body = get(client, world, user, "incidents-hourly", **wide(world), **params)
        assert body["count"] == len(body["data"])
        out: dict[tuple[str | None, ...], int] = {}
        for row in body["data"]:
            key = (row["kind"], row["district"])
            out[key] = out.get(key, 0) + row["incidents"]
        return out

    assert totals("admin") == {("illegal_parking", None): 3, ("camera_fault", None): 1, ("waterlogging", None): 1}
    assert totals("admin", by="district") == {(None, "nj-gulou"): 4, (None, "nj-xuanwu"): 1}
    assert totals("admin", by=["kind", "district"], kind="waterlogging") == {("waterlogging", "nj-xuanwu"): 1}
    assert totals("cmd-xuanwu") == {("waterlogging", None): 1}
    water_hour = get(client, world, "cmd-xuanwu", "incidents-hourly", **wide(world))["data"][0]["bucket"]
    assert water_hour.startswith((world.now - timedelta(days=20)).strftime("%Y-%m-%dT%H:00:00"))


def test_precision(client: TestClient, world: World) -> None:
    def rows(user: str, by: str) -> list[dict[str, Any]]:
        body = get(client, world, user, "precision", by=by, **wide(world))
        assert body["count"] == len(body["data"])
        return body["data"]

    cameras = rows("admin", "camera")  # car-3 (cam-demo-03) and the open orders are not decided: omitted
    assert [
        (r["camera_id"], r["decided"], r["true_positives"], r["false_alarms"], r["precision"]) for r in cameras
    ] == [
        ("cam-demo-02", 1, 0, 1, 0.0),
        ("cam-demo-01", 1, 1, 0, 1.0),
    ]
    assert cameras[0]["model_name"] is None  # only the grouping's columns are filled
    models = rows("cmd-gulou", "model")
    assert [(r["model_name"], r["model_sha256"], r["precision"]) for r in models] == [
        ("yolov8n-parking", "b" * 64, 0.0),
        ("yolov8n-parking", "a" * 64, 1.0),
    ]
    assert [(r["rule_id"], r["rule_version"], r["decided"], r["precision"]) for r in rows("admin", "rule")] == [
        ("no-parking", "2", 2, 0.5)
    ]
    assert [(r["camera_id"], r["zone_id"]) for r in rows("admin", "zone")] == [
        ("cam-demo-02", "z1"),
        ("cam-demo-01", "z1"),
    ]
    assert [(r["kind"], r["decided"], r["precision"]) for r in rows("admin", "kind")] == [("illegal_parking", 2, 0.5)]
    assert rows("cmd-xuanwu", "camera") == []  # nothing decided in nj-xuanwu
    long_ago = get(
        client,
        world,
        "admin",
        "precision",
        since=(world.now - timedelta(days=25)).isoformat(),
        until=(world.now - timedelta(days=10)).isoformat(),
    )
    assert long_ago == {"data": [], "count": 0}


@pytest.mark.parametrize("path", ["summary", "incidents-hourly", "precision"])
@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"since": "2026-01-01T00:00:00"}, "since needs a time zone"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until must be after since"),
        ({"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "at most 366 days"),
    ],
)
def test_bad_ranges_are_422(client: TestClient, world: World, path: str, params: dict[str, str], needle: str) -> None:
    response = client.get(f"/api/v1/stats/{path}", params=params, headers=world.as_("admin"))
    assert response.status_code == 422 and needle in response.json()["detail"]


def test_bad_groupings_are_422(client: TestClient, world: World) -> None:
    for path, by in (("precision", "colour"), ("incidents-hourly", "grid_id")):
        response = client.get(f"/api/v1/stats/{path}", params={"by": by}, headers=world.as_("admin"))
        assert response.status_code == 422 and "by" in response.text


def test_rollups_are_scoped_to_the_commanders_districts(client: TestClient, rolled_up: World) -> None:
    world = rolled_up
    days = {
        "since": (world.now - timedelta(days=25)).date().isoformat(),
        "until": (world.now + timedelta(days=15)).date().isoformat(),
    }
    everywhere = get(client, world, "admin", "sla-daily", by="district", **days)["data"]
    assert {r["district"] for r in everywhere} == {"nj-gulou", "nj-xuanwu"}
    mine = get(client, world, "cmd-xuanwu", "sla-daily", by="district", **days)["data"]
    assert {r["district"] for r in mine} == {"nj-xuanwu"}
    hours = wide(world) | {"until": (world.now + timedelta(hours=1)).isoformat()}
    events = get(client, world, "cmd-xuanwu", "events-hourly", by="district", **hours)["data"]
    assert {r["district"] for r in events} <= {"nj-xuanwu"}
    assert {r["district"] for r in get(client, world, "commander1", "events-hourly", by="district", **hours)["data"]}


def test_operation_ids(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, operation in (
        ("summary", "stats_summary"),
        ("incidents-hourly", "stats_incidents_hourly"),
        ("precision", "stats_precision"),
    ):
        assert paths[f"/api/v1/stats/{path}"]["get"]["operationId"] == operation
