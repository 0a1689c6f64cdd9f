"""The hub app over HTTP (FastAPI TestClient) on a real PostgreSQL, ingest off: auth, roles, work orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cityops.contract.messages import Event, new_event_id
from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_GRIDS, DEMO_LOCATION, DEMO_PASSWORD

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    settings = HubSettings(
        database_url=database_url,
        ingest=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-domain-api-tests-0123456789"),
        admin_user="admin",
        admin_password=SecretStr("admin-test-pw"),
        rules_dir=REPO / "rules",
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def orders(client: TestClient, database_url: str) -> dict[str, int]:
    """One incident in grid 1 (officer1) and one in grid 2 (officer2), made by the incident processor."""
    grid2 = DEMO_GRIDS[1].center
    events = [
        ("edge-demo-01", "k/officer1", DEMO_LOCATION),
        ("edge-demo-01", "k/officer2", {"lon": grid2[0], "lat": grid2[1]}),
    ]
    with psycopg.connect(database_url) as conn:
        processor = IncidentProcessor(GridDirectory.load(conn), RulesStore(REPO / "rules" / "hub"))
        processor(
            conn,
            [
                IngestedEvent(
                    device,
                    Event(
                        event_id=new_event_id(),
                        seq=n + 1,
                        ts=datetime.now(UTC),
                        kind="illegal_parking",
                        phase="start",
                        incident_key=key,
                        location=location,
                    ),
                )
                for n, (device, key, location) in enumerate(events)
            ],
        )
        found = conn.execute(
            "SELECT i.incident_key, w.id FROM work_orders w JOIN incidents i ON i.id = w.incident_id"
        ).fetchall()
    return {key.split("/")[1]: order_id for key, order_id in found}


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_healthz_and_metrics(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["ingest"] == {"enabled": False, "healthy": None}
    assert "PostgreSQL" in body["database_features"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'cityops_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


def test_login(client: TestClient) -> None:
    assert client.get("/api/v1/auth/me", headers=login(client, "admin", "admin-test-pw")).json()["role"] == "admin"
    assert client.get("/api/v1/auth/me", headers=login(client, "commander1")).json()["role"] == "commander"
    for username, password in (("admin", "wrong"), ("nobody", "whatever")):
        bad = client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert bad.status_code == 401
        assert bad.json()["detail"].startswith("incorrect username or password")


def test_missing_or_bad_token_is_401(client: TestClient) -> None:
    assert "not logged in" in client.get("/api/v1/work-orders").json()["detail"]
    bad = client.get("/api/v1/work-orders", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401 and "invalid token" in bad.json()["detail"]


def test_role_checks(client: TestClient, orders: dict[str, int]) -> None:
    # Officers read the incidents of their grids (was: 403 for every officer); the rest is tests/cloud_hub/reads.
    officer = client.get("/api/v1/incidents", headers=login(client, "officer1"))
    assert officer.status_code == 200 and [i["incident_key"] for i in officer.json()["data"]] == ["k/officer1"]
    assert client.get("/api/v1/work-orders", headers=login(client, "tech1")).status_code == 403
    incidents = client.get("/api/v1/incidents", params={"status": "open"}, headers=login(client, "commander1"))
    assert incidents.status_code == 200
    assert incidents.json()["count"] == 2
    pink = client.get("/api/v1/incidents", params={"severity": "pink"}, headers=login(client, "commander1"))
    assert pink.status_code == 422 and "severity" in pink.text


def test_officer_sees_only_own_work_orders(client: TestClient, orders: dict[str, int]) -> None:
    officer1 = login(client, "officer1")
    listed = client.get("/api/v1/work-orders", headers=officer1).json()
    assert listed["count"] == 1
    assert [o["id"] for o in listed["data"]] == [orders["officer1"]]
    assert listed["data"][0]["assignee"] == "officer1"
    assert client.get("/api/v1/work-orders", params={"assignee": "officer2"}, headers=officer1).status_code == 403
    assert client.get(f"/api/v1/work-orders/{orders['officer2']}", headers=officer1).status_code == 404
    everything = client.get("/api/v1/work-orders", headers=login(client, "commander1")).json()
    assert everything["count"] == 2


def test_transitions_are_checked_and_audited(client: TestClient, orders: dict[str, int], database_url: str) -> None:
    order = orders["officer1"]
    url = f"/api/v1/work-orders/{order}/transitions"
    officer1, officer2, commander = login(client, "officer1"), login(client, "officer2"), login(client, "commander1")

    illegal = client.post(url, json={"to": "resolved"}, headers=officer1)
    assert illegal.status_code == 409
    assert "cannot go to resolved" in illegal.json()["detail"]
    assert client.post(url, json={"to": "accepted"}, headers=commander).status_code == 403
    assert client.post(url, json={"to": "accepted"}, headers=officer2).status_code == 404
    assert client.post(url, json={"to": "accepted", "typo": 1}, headers=officer1).status_code == 422

    accepted = client.post(url, json={"to": "accepted", "note": "on my way"}, headers=officer1)
    assert accepted.status_code == 200, accepted.text
    detail = accepted.json()
    assert detail["status"] == "accepted"
    assert "on_site" in detail["allowed"]
    assert detail["transitions"][-1]["actor"] == "officer1"
    assert detail["transitions"][-1]["note"] == "on my way"

    for to in ("on_site", "resolved"):
        assert client.post(url, json={"to": to}, headers=officer1).status_code == 200
    own_check = client.post(url, json={"to": "verified"}, headers=officer1)
    assert own_check.status_code == 403
    assert (
        client.post(url, json={"to": "returned", "note": "car still there"}, headers=commander).json()["status"]
        == "returned"
    )
    reassigned = client.post(url, json={"to": "reassigned", "assignee": "officer2"}, headers=commander).json()
    assert (reassigned["status"], reassigned["assignee"]) == ("dispatched", "officer2")
    bad_assignee = client.post(url, json={"to": "reassigned", "assignee": "tech1"}, headers=commander)
    assert bad_assignee.status_code == 409 and "technician" in bad_assignee.json()["detail"]

    with psycopg.connect(database_url) as conn:
        audit = conn.execute(
            "SELECT from_status, to_status, actor, role, assignee FROM work_order_transitions"
            " WHERE work_order_id = %s ORDER BY id",
            (order,),
        ).fetchall()
    assert audit[3:] == [
        ("dispatched", "accepted", "officer1", "officer", "officer1"),
        ("accepted", "on_site", "officer1", "officer", "officer1"),
        ("on_site", "resolved", "officer1", "officer", "officer1"),
        ("resolved", "returned", "commander1", "commander", "officer1"),
        ("returned", "reassigned", "commander1", "commander", "officer2"),
        ("reassigned", "dispatched", "commander1", "commander", "officer2"),
    ]


def test_openapi_operation_ids_are_stable(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/auth/token"]["post"]["operationId"] == "login_for_token"
    assert paths["/api/v1/work-orders"]["get"]["operationId"] == "list_work_orders"
    assert paths["/api/v1/work-orders/{order_id}/transitions"]["post"]["operationId"] == "transition_work_order"
    assert paths["/api/v1/incidents"]["get"]["operationId"] == "list_incidents"
