"""Revoking a device's credentials on the real database: a token is bound to the provisioning it was issued by, so
re-provisioning a box makes its old token worthless at once, and retiring a stolen box refuses its secret and
every token until it is provisioned again."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from cloud_hub.api.deps import DeviceIdentity
from cloud_hub.auth.security import create_device_token
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import DeviceError, device_access, provision_device, retire_device

SETTINGS = HubSettings(jwt_secret=SecretStr("test-secret-for-device-retire-0123456789"))


class RecordingBroker:
    def __init__(self) -> None:
        self.removed: list[str] = []

    def available(self) -> bool:
        return True

    def provision_device(self, device_id: str, password: str) -> None:
        pass

    def remove_device(self, device_id: str) -> None:
        self.removed.append(device_id)


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.settings = SETTINGS

    @app.get("/whoami")
    def whoami(device: DeviceIdentity) -> dict[str, str]:
        return {"device_id": device.device_id}

    with ConnectionPool(database_url, min_size=1, max_size=2, kwargs={"autocommit": False}) as pool:
        app.state.pool = pool
        yield TestClient(app)


def _provision(database_url: str, device_id: str) -> tuple[str, str]:
    with psycopg.connect(database_url) as conn:
        secret = provision_device(conn, RecordingBroker(), device_id, "edge")
        access = device_access(conn, device_id)
    assert access is not None
    return secret, create_device_token(SETTINGS, device_id, generation=access.generation)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_new_provisioning_makes_the_old_token_worthless(client: TestClient, database_url: str) -> None:
    _, first = _provision(database_url, "edge-gen-01")
    assert client.get("/whoami", headers=_bearer(first)).json() == {"device_id": "edge-gen-01"}
    _, second = _provision(database_url, "edge-gen-01")
    refused = client.get("/whoami", headers=_bearer(first))
    assert refused.status_code == 401 and "provisioned again" in refused.json()["detail"]
    assert client.get("/whoami", headers=_bearer(second)).status_code == 200
    # A token from before generations existed works only while the device was never provisioned again.
    legacy = create_device_token(SETTINGS, "edge-gen-01")
    assert client.get("/whoami", headers=_bearer(legacy)).status_code == 401


def test_retiring_refuses_secret_and_tokens_until_provisioned_again(client: TestClient, database_url: str) -> None:
    secret, token = _provision(database_url, "edge-stolen-01")
    assert client.get("/whoami", auth=("edge-stolen-01", secret)).status_code == 200
    broker = RecordingBroker()
    with psycopg.connect(database_url) as conn:
        retire_device(conn, broker, "edge-stolen-01", "tech1")
    assert broker.removed == ["edge-stolen-01"]
    by_token = client.get("/whoami", headers=_bearer(token))
    assert by_token.status_code == 401 and "retired" in by_token.json()["detail"]
    assert client.get("/whoami", auth=("edge-stolen-01", secret)).status_code == 401
    with psycopg.connect(database_url) as conn, pytest.raises(DeviceError, match="already retired"):
        retire_device(conn, RecordingBroker(), "edge-stolen-01", "tech1")
    with psycopg.connect(database_url) as conn, pytest.raises(DeviceError, match="not provisioned"):
        retire_device(conn, RecordingBroker(), "edge-never", "tech1")
    new_secret, new_token = _provision(database_url, "edge-stolen-01")
    assert client.get("/whoami", headers=_bearer(new_token)).status_code == 200
    assert client.get("/whoami", auth=("edge-stolen-01", new_secret)).status_code == 200


def test_the_retire_route(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from cloud_hub.app import create_app
    from cloud_hub.seed.demo import DEMO_PASSWORD

    repo = Path(__file__).resolve().parents[3]
    settings = SETTINGS.model_copy(
        update={
            "database_url": database_url, "ingest": False, "scheduler": False, "live": False, "demo_seed": True,
            "admin_password": SecretStr("admin-test-pw"), "rules_dir": repo / "rules",
            "evidence_dir": tmp_path_factory.mktemp("evidence"),
        }
    )  # fmt: skip
    with TestClient(create_app(settings)) as app:

        def login(username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
            answer = app.post("/api/v1/auth/token", data={"username": username, "password": password})
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        tech, officer = login("tech1"), login("officer1")
        provisioned = app.post("/api/v1/devices", json={"device_id": "edge-route-01", "kind": "edge"}, headers=tech)
        assert provisioned.status_code == 201, provisioned.text
        token = provisioned.json()["device_token"]
        assert app.post("/api/v1/devices/edge-route-01/retire", headers=officer).status_code == 403
        retired = app.post("/api/v1/devices/edge-route-01/retire", headers=tech)
        assert retired.status_code == 200 and retired.json()["retired_by"] == "tech1"
        again = app.post("/api/v1/devices/edge-route-01/retire", headers=tech)
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        assert app.post("/api/v1/devices/edge-nobody/retire", headers=tech).status_code == 404
        assert app.get("/api/v1/devices/edge-route-01", headers=tech).json()["retired_at"] is not None
        # The token issued at provisioning is refused by a device route (evidence upload) from now on.
        upload = app.put(
            "/api/v1/evidence/0193b6e2-2b1e-7c3a-9d4f-2b6c1a9e0f11",
            content=b"\xff\xd8\xff\xd9",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
        )
        assert upload.status_code == 401 and "retired" in upload.json()["detail"]
