"""Rainstorm mode over HTTP: any user reads it, only commanders and admins switch it, every switch is audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings
from cloud_hub.seed.demo import DEMO_PASSWORD

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    settings = HubSettings(
        database_url=database_url,
        ingest=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-telemetry-modes-tests-0123456789"),
        admin_password=SecretStr("admin-test-pw"),
        rules_dir=REPO / "rules",
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_commander_switches_rainstorm_mode_and_the_switch_is_audited(client: TestClient) -> None:
    commander, officer = login(client, "commander1"), login(client, "officer1")
    assert client.get("/api/v1/modes/rainstorm", headers=officer).json()["enabled"] is False

    refused = client.post("/api/v1/modes/rainstorm", json={"enabled": True}, headers=officer)
    assert refused.status_code == 403
    on = client.post(
        "/api/v1/modes/rainstorm", json={"enabled": True, "note": "red rainstorm alert"}, headers=commander
    )
    assert on.status_code == 200, on.text
    assert on.json()["enabled"] is True and on.json()["changed_by"] == "commander1"
    seen = client.get("/api/v1/modes/rainstorm", headers=officer).json()
    assert (seen["enabled"], seen["note"]) == (True, "red rainstorm alert")
    client.post("/api/v1/modes/rainstorm", json={"enabled": False}, headers=commander)

    history = client.get("/api/v1/modes/rainstorm/history", headers=commander).json()
    assert [(h["enabled"], h["actor"], h["role"]) for h in history] == [
        (False, "commander1", "commander"),
        (True, "commander1", "commander"),
    ]
    assert client.get("/api/v1/modes/rainstorm/history", headers=officer).status_code == 403


def test_bad_requests_name_the_problem(client: TestClient) -> None:
    commander = login(client, "commander1")
    typo = client.post("/api/v1/modes/rainstorm", json={"enable": True}, headers=commander)
    assert typo.status_code == 422 and "enable" in typo.text
    assert client.get("/api/v1/modes/snowstorm", headers=commander).status_code == 422
    assert client.get("/api/v1/modes/rainstorm").status_code == 401
