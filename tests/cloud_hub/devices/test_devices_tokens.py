"""One-time provisioning tokens on a real database: create (technician), redeem (the box, no login), single use,
expiry, the v2 QR code, audit entries, and the answer carrying the hub's model signing key."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from cityops.contract.provisioning_qr import parse_qr_payload, parse_qr_v2, qr_payload, qr_payload_v2
from cloud_hub.api.routes import devices
from cloud_hub.auth.security import create_access_token
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import verify_device_secret
from tests.cloud_hub.devices.broker_double import RecordingBrokerAdmin


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> HubSettings:
    return HubSettings(
        database_url=database_url,
        jwt_secret="test-secret-with-enough-length-000",
        evidence_dir=tmp_path_factory.mktemp("evidence"),
        mqtt_url="mqtt://hub:pw@broker.internal:18830",
        public_url="https://hub.example",
    )


@pytest.fixture(scope="module")
def broker() -> RecordingBrokerAdmin:
    return RecordingBrokerAdmin()


@pytest.fixture(scope="module")
def client(settings: HubSettings, broker: RecordingBrokerAdmin) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(devices.router)
    with ConnectionPool(settings.database_url, min_size=1, max_size=6) as pool:
        with pool.connection() as conn:
            ensure_user(conn, "tech", "tech-password", "technician")
        app.state.settings = settings
        app.state.pool = pool
        app.state.broker_admin = broker
        with TestClient(app) as c:
            yield c


def tech(settings: HubSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_access_token(settings, 'tech', 'technician')}"}


def register(client: TestClient, settings: HubSettings, device_id: str) -> dict:
    r = client.post("/api/v1/devices", json={"device_id": device_id, "kind": "edge"}, headers=tech(settings))
    assert r.status_code == 201, r.text
    return r.json()


def new_token(client: TestClient, settings: HubSettings, device_id: str, **body: int) -> dict:
    r = client.post(f"/api/v1/devices/{device_id}/provisioning-tokens", json=body, headers=tech(settings))
    assert r.status_code == 201, r.text
    return r.json()


def test_qr_v2_round_trip_and_v1_kept() -> None:
    text = qr_payload_v2("https://hub.example", "tok-123")
    assert text.startswith("cityops:2:")
    assert parse_qr_v2(text) == {"h": "https://hub.example", "t": "tok-123"}
    v1 = qr_payload("edge-1", "https://hub.example", "mqtts://edge-1@b:8883", "s3cret")
    assert parse_qr_payload(v1)["s"] == "s3cret"
    with pytest.raises(ValueError, match="version 1"):
        parse_qr_v2(v1)
    with pytest.raises(ValueError, match="cityops:2:"):
        parse_qr_v2("hello")


def test_token_redeems_once_and_rotates_the_secret(
    client: TestClient, settings: HubSettings, broker: RecordingBrokerAdmin
) -> None:
    first = register(client, settings, "edge-tok-1")
    issued = new_token(client, settings, "edge-tok-1")
    assert parse_qr_v2(issued["qr_payload"]) == {"h": "https://hub.example", "t": issued["token"]}
    assert issued["token"] in issued["command"]
    with psycopg.connect(settings.database_url) as conn:  # stored as a hash only
        stored = conn.execute("SELECT token_hash FROM provisioning_tokens").fetchall()
        assert issued["token"] not in {row[0] for row in stored}

    r = client.post("/api/v1/provisioning/redeem", json={"token": issued["token"]})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["password"] != first["password"]
    assert broker.passwords["edge-tok-1"] == answer["password"]
    config = yaml.safe_load(answer["config_yaml"])
    assert config["device_id"] == "edge-tok-1"
    assert len(config["model_updates"]["trusted_keys"]) == 1
    with psycopg.connect(settings.database_url) as conn:
        assert verify_device_secret(conn, "edge-tok-1", answer["password"])
        assert not verify_device_secret(conn, "edge-tok-1", first["password"])
        actions = [row[0] for row in conn.execute("SELECT action FROM audit_log WHERE chain = 'devices' ORDER BY seq")]
    assert actions[-2:] == ["provisioning_token_create", "provisioning_token_redeem"]

    again = client.post("/api/v1/provisioning/redeem", json={"token": issued["token"]})
    assert again.status_code == 410
    assert "already used at" in again.json()["detail"]


def test_expired_unknown_and_retired_tokens_are_refused(client: TestClient, settings: HubSettings) -> None:
    register(client, settings, "edge-tok-2")
    issued = new_token(client, settings, "edge-tok-2", ttl_s=60)
    with psycopg.connect(settings.database_url) as conn:  # the clock moves on: backdate instead of sleeping
        conn.execute("UPDATE provisioning_tokens SET created_at = created_at - interval '2 hours',"
                     " expires_at = expires_at - interval '1 hour' WHERE device_id = 'edge-tok-2'")  # fmt: skip
    r = client.post("/api/v1/provisioning/redeem", json={"token": issued["token"]})
    assert r.status_code == 410 and "expired at" in r.json()["detail"], r.text
    r = client.post("/api/v1/provisioning/redeem", json={"token": "nope"})
    assert r.status_code == 404 and "unknown provisioning token" in r.json()["detail"]
    r = client.post("/api/v1/devices/edge-none/provisioning-tokens", json={}, headers=tech(settings))
    assert r.status_code == 404
    r = client.post("/api/v1/devices/edge-tok-2/provisioning-tokens", json={"ttl_s": 5}, headers=tech(settings))
    assert r.status_code == 422
    r = client.post("/api/v1/devices/edge-tok-2/provisioning-tokens", json={})
    assert r.status_code == 401

    late = new_token(client, settings, "edge-tok-2")
    assert client.post("/api/v1/devices/edge-tok-2/retire", headers=tech(settings)).status_code == 200
    r = client.post("/api/v1/provisioning/redeem", json={"token": late["token"]})
    assert r.status_code == 409 and "retired" in r.json()["detail"]


def test_concurrent_redeems_have_one_winner(client: TestClient, settings: HubSettings) -> None:
    register(client, settings, "edge-tok-3")
    token = new_token(client, settings, "edge-tok-3")["token"]
    codes: list[int] = []
    barrier = threading.Barrier(4)

    def redeem() -> None:
        barrier.wait()
        codes.append(client.post("/api/v1/provisioning/redeem", json={"token": token}).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 410, 410, 410]
