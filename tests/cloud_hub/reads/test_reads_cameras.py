"""GET /api/v1/cameras/map over HTTP on a real database: cameras with place, device status and open faults."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from reads_world import World


def cameras(client: TestClient, world: World, user: str, **params: Any) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/cameras/map", params=params, headers=world.as_(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["data"])
    return {row["camera_id"]: row for row in body["data"]}


@pytest.mark.parametrize("user", ["admin", "commander1", "cmd-xuanwu", "tech1"])
def test_map_for_the_roles_that_see_devices(client: TestClient, world: World, user: str) -> None:
    got = cameras(client, world, user)
    assert set(got) == {f"cam-demo-{n:02d}" for n in range(1, 7)} | {"cam-xw-01"}  # devices: city-wide
    demo = got["cam-demo-01"]
    assert (demo["device_id"], demo["device_status"], demo["district"]) == ("edge-demo-01", "online", "nj-gulou")
    assert demo["open_fault"] is True and demo["fault_incident_id"] == world.incidents["fault"]
    assert demo["fault_severity"] == "blue" and demo["device_last_seen"] is not None
    xw = got["cam-xw-01"]
    assert (xw["device_status"], xw["grid_id"], xw["open_fault"]) == ("stale", "nj-xuanwu-01", False)
    assert got["cam-demo-04"]["device_id"] is None and got["cam-demo-04"]["device_status"] is None


@pytest.mark.parametrize("user", ["officer1", "officer9"])
def test_officers_are_refused(client: TestClient, world: World, user: str) -> None:
    response = client.get("/api/v1/cameras/map", headers=world.as_(user))
    assert response.status_code == 403 and "officer" in response.json()["detail"]


def test_filters(client: TestClient, world: World) -> None:
    assert set(cameras(client, world, "tech1", fault="true")) == {"cam-demo-01"}
    assert "cam-demo-01" not in cameras(client, world, "tech1", fault="false")
    assert set(cameras(client, world, "admin", district="nj-xuanwu")) == {"cam-xw-01"}
    assert set(cameras(client, world, "admin", device_id="edge-demo-01")) == {
        "cam-demo-01",
        "cam-demo-02",
        "cam-demo-03",
    }
    page = client.get("/api/v1/cameras/map", params={"limit": 2, "offset": 6}, headers=world.as_("admin")).json()
    assert page["count"] == 7 and [r["camera_id"] for r in page["data"]] == ["cam-xw-01"]
    assert client.get("/api/v1/cameras/map", params={"limit": 0}, headers=world.as_("admin")).status_code == 422


def test_operation_id(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["paths"]["/api/v1/cameras/map"]["get"]["operationId"] == "list_camera_map"
