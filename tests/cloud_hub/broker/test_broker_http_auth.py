"""The hub as EMQX's HTTP authentication and authorisation source (routes/broker.py), on a real database: devices
from the registry (argon2 secrets, retirement), the hub's own identity, the ACL set Mosquitto enforces, and the
shared secret every call must carry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from cloud_hub.api.routes import broker
from cloud_hub.broker.acl import acl_allows, device_acls, filter_covered, hub_acls
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import provision_device, retire_device

BROKER_SECRET = "broker-secret-for-tests-0123456789abcdef"
HEADERS = {broker.SECRET_HEADER: BROKER_SECRET}
SETTINGS = HubSettings(
    mqtt_url="mqtt://cityops-hub:hub-password@emqx:1883", broker_auth_secret=SecretStr(BROKER_SECRET)
)


class NoBroker:
    def available(self) -> bool:
        return False

    def provision_device(self, device_id: str, password: str) -> None:
        pass

    def remove_device(self, device_id: str) -> None:
        pass


@pytest.fixture(scope="module")
def devices(database_url: str) -> dict[str, str]:
    """device id -> secret: two live boxes and one retired one."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        secrets = {d: provision_device(conn, NoBroker(), d, "edge") for d in ("cam-0001", "cam-0002", "cam-0003")}
        retire_device(conn, NoBroker(), "cam-0003", "test")
    return secrets


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(broker.router)
    with ConnectionPool(database_url, min_size=1, max_size=2) as pool:
        app.state.settings = SETTINGS
        app.state.pool = pool
        with TestClient(app) as c:
            yield c


def authenticate(client: TestClient, username: str, password: str, clientid: str | None = None) -> Any:
    body = {"clientid": clientid or username, "username": username, "password": password}
    r = client.post("/api/v1/broker/authenticate", json=body, headers=HEADERS)
    assert r.status_code == 200, r.text
    return r.json()


def authorize(client: TestClient, username: str, action: str, topic: str, clientid: str | None = None) -> str:
    body = {"clientid": clientid or username, "username": username, "action": action, "topic": topic}
    r = client.post("/api/v1/broker/authorize", json=body, headers=HEADERS)
    assert r.status_code == 200, r.text
    return str(r.json()["result"])


def test_a_device_connects_with_its_own_secret_only(client: TestClient, devices: dict[str, str]) -> None:
    assert authenticate(client, "cam-0001", devices["cam-0001"]) == {"result": "allow", "is_superuser": False}
    assert authenticate(client, "cam-0001", devices["cam-0002"])["result"] == "deny"
    assert authenticate(client, "cam-0404", devices["cam-0001"])["result"] == "deny"  # never provisioned
    # The client id is the device id, as Mosquitto binds it: a box's secret does not open another client id.
    assert authenticate(client, "cam-0001", devices["cam-0001"], clientid="cam-0002")["result"] == "deny"


def test_a_retired_device_is_refused(client: TestClient, devices: dict[str, str]) -> None:
    assert authenticate(client, "cam-0003", devices["cam-0003"])["result"] == "deny"
    assert authorize(client, "cam-0003", "publish", "cityops/v1/dev/cam-0003/events") == "deny"


def test_the_hub_connects_with_the_password_of_its_mqtt_url(client: TestClient) -> None:
    # Any client id: replicas and ingest workers each pick their own.
    assert authenticate(client, "cityops-hub", "hub-password", clientid="hub-ingest-3")["result"] == "allow"
    assert authenticate(client, "cityops-hub", "wrong", clientid="hub-ingest-3")["result"] == "deny"


@pytest.mark.parametrize(
    ("username", "action", "topic", "result"),
    [
        ("cam-0001", "publish", "cityops/v1/dev/cam-0001/events", "allow"),
        ("cam-0001", "publish", "cityops/v1/dev/cam-0001/telemetry", "allow"),
        ("cam-0001", "publish", "cityops/v1/dev/cam-0002/events", "deny"),  # another device's topic
        ("cam-0001", "publish", "cityops/v1/dev/cam-0001/config", "deny"),  # only the hub sends config
        ("cam-0001", "publish", "cityops/v1/dev/cam-0001/ack", "deny"),
        ("cam-0001", "publish", "cityops/v1/dev/cam-0001/#", "deny"),  # not a topic name
        ("cam-0001", "subscribe", "cityops/v1/dev/cam-0001/cmd", "allow"),
        ("cam-0001", "subscribe", "cityops/v1/dev/cam-0001/ack", "allow"),
        ("cam-0001", "subscribe", "cityops/v1/dev/cam-0001/#", "deny"),  # literal grants only
        ("cam-0001", "subscribe", "cityops/v1/dev/cam-0002/cmd", "deny"),
        ("cam-0001", "subscribe", "$share/hub/cityops/#", "deny"),
        ("cityops-hub", "subscribe", "$share/hub/cityops/v1/dev/+/events", "allow"),
        ("cityops-hub", "subscribe", "cityops/v1/dev/+/events", "allow"),
        ("cityops-hub", "subscribe", "$share/other/cityops/v1/dev/+/events", "deny"),  # its own share group only
        ("cityops-hub", "publish", "cityops/v1/dev/cam-0001/ack", "allow"),
        ("cityops-hub", "subscribe", "#", "deny"),
        ("cam-0404", "publish", "cityops/v1/dev/cam-0404/events", "deny"),  # never provisioned
    ],
)
def test_authorisation_is_the_mosquitto_acl_set(
    client: TestClient, devices: dict[str, str], username: str, action: str, topic: str, result: str
) -> None:
    assert authorize(client, username, action, topic) == result


def test_every_call_needs_the_shared_secret(client: TestClient) -> None:
    body = {"clientid": "cityops-hub", "username": "cityops-hub", "password": "hub-password"}
    for headers in ({}, {broker.SECRET_HEADER: "wrong"}):
        r = client.post("/api/v1/broker/authenticate", json=body, headers=headers)
        assert r.status_code == 401, r.text


def test_without_a_configured_secret_the_routes_are_off(database_url: str) -> None:
    app = FastAPI()
    app.include_router(broker.router)
    app.state.settings = HubSettings()
    body = {"clientid": "x", "username": "x", "password": "x"}
    with TestClient(app) as c:
        assert c.post("/api/v1/broker/authenticate", json=body, headers=HEADERS).status_code == 503


@pytest.mark.parametrize(
    ("pattern", "topic_filter", "covered"),
    [
        ("cityops/#", "cityops/v1/dev/a/events", True),
        ("cityops/#", "cityops", True),
        ("cityops/#", "other/x", False),
        ("$share/+/cityops/#", "$share/hub/cityops/v1/dev/+/events", True),
        ("a/+/c", "a/+/c", True),
        ("a/+/c", "a/#", False),
        ("a/b/c", "a/+/c", False),
        ("a/b", "a/b/c", False),
    ],
)
def test_filter_covered_follows_mosquitto(pattern: str, topic_filter: str, covered: bool) -> None:
    assert filter_covered(pattern, topic_filter) is covered


def test_a_higher_priority_deny_wins() -> None:
    acls = device_acls("cam-0001")
    assert not acl_allows(acls, "publish", "cityops/v1/dev/cam-0001/cmd")
    assert acl_allows(acls, "publish", "cityops/v1/dev/cam-0001/cmd_result")
    assert not acl_allows(hub_acls(), "connect", "cityops/x")  # an unknown action is denied
