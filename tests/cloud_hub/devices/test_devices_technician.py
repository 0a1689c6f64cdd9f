"""What the technician's web app needs of the device registry: the provisioning bundle (configuration file, QR code),
who provisioned a device, who may see devices, and the fleet list's filters. Real database, the hub's own auth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from cityops.contract.provisioning_qr import QR_PREFIX, parse_qr_payload, qr_payload
from cloud_hub.api.routes import devices
from cloud_hub.auth.security import create_access_token
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import list_devices
from cloud_hub.devices.status import device_faults
from edge_agent.config import ConfigError, load_config
from tests.tls_certs import make_ca

ROLES = {"adm": "admin", "tech": "technician", "boss": "commander", "off": "officer"}


class BrokerAdmin:
    def available(self) -> bool:
        return True

    def provision_device(self, device_id: str, password: str) -> None:
        pass


def make_client(settings: HubSettings) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(devices.router)
    with ConnectionPool(settings.database_url, min_size=1, max_size=4) as pool:
        with pool.connection() as conn:
            for name, role in ROLES.items():
                ensure_user(conn, name, f"{name}-password", role)
        app.state.settings, app.state.pool, app.state.broker_admin = settings, pool, BrokerAdmin()
        with TestClient(app) as client:
            yield client


def hub_settings(database_url: str, mqtt_url: str, **public_mqtt: Any) -> HubSettings:
    return HubSettings(
        database_url=database_url,
        jwt_secret="test-secret-with-enough-length-000",
        mqtt_url=mqtt_url,
        public_url="https://hub.example",
        **public_mqtt,
    )


@pytest.fixture(scope="module")
def settings(database_url: str) -> HubSettings:
    return hub_settings(database_url, "mqtt://hub:pw@broker.internal:18830")


@pytest.fixture(scope="module")
def client(settings: HubSettings) -> Iterator[TestClient]:
    yield from make_client(settings)


def auth(settings: HubSettings, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_access_token(settings, user, ROLES[user])}"}


def provision(client: TestClient, settings: HubSettings, device_id: str, user: str = "tech", kind: str = "edge"):
    r = client.post("/api/v1/devices", json={"device_id": device_id, "kind": kind}, headers=auth(settings, user))
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_provisioning_bundle_is_a_valid_edge_config_once_a_camera_is_filled_in(
    client: TestClient, settings: HubSettings, tmp_path: Path
) -> None:
    device_id = f"edge-{uuid.uuid4().hex[:8]}"
    body = provision(client, settings, device_id)
    text = body["config_yaml"]
    assert text.startswith(f"# CityOps edge agent configuration of {device_id}") and "by tech" in text
    config = yaml.safe_load(text)
    assert config["device_id"] == device_id and config["hub_url"] == "https://hub.example"
    assert config["mqtt_url"] == f"mqtt://{device_id}:{body['password']}@broker.internal:18830"
    assert config["data_dir"] == "/var/lib/cityops/data" and config["cameras"] == []
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="cameras: List should have at least 1 item"):  # the placeholder refuses
        load_config(path)

    config["cameras"] = [{"camera_id": "cam-1", "source": "rtsp://192.0.2.10:554/stream", "rules": "cam-1.yaml"}]
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path)  # the edge agent's own loader accepts the filled-in file
    assert loaded.device_id == device_id and loaded.mqtt.password == body["password"] and not loaded.mqtt.tls
    assert loaded.cameras[0].rules == tmp_path / "cam-1.yaml"

    fields = parse_qr_payload(body["qr_payload"])
    assert body["qr_payload"].startswith(QR_PREFIX) and "=" not in body["qr_payload"]
    assert fields == {"d": device_id, "h": "https://hub.example", "m": f"mqtt://{device_id}@broker.internal:18830",
                      "s": body["password"]}  # fmt: skip


def test_tls_brokers_get_mqtts_urls(database_url: str, tmp_path: Path) -> None:
    tls = hub_settings(database_url, "mqtts://hub:pw@broker.example:8883")
    for client in make_client(tls):
        device_id = f"edge-{uuid.uuid4().hex[:8]}"
        body = provision(client, tls, device_id)
        assert body["mqtt_tls"] is True
        config = yaml.safe_load(body["config_yaml"])
        assert config["mqtt_url"].startswith(f"mqtts://{device_id}:") and config["mqtt_url"].endswith(":8883")
        assert parse_qr_payload(body["qr_payload"])["m"] == f"mqtts://{device_id}@broker.example:8883"
        config["cameras"] = [{"camera_id": "cam-1", "source": "usb:0", "rules": "r.yaml"}]
        (tmp_path / "edge.yaml").write_text(yaml.safe_dump(config))
        assert load_config(tmp_path / "edge.yaml").mqtt.tls
        info = client.get(f"/api/v1/devices/{device_id}/provisioning", headers=auth(tls, "adm")).json()
        assert info["mqtt_url"] == f"mqtts://{device_id}@broker.example:8883"


def test_devices_get_tls_and_the_private_ca_while_the_hub_stays_on_the_internal_plain_listener(
    database_url: str, tmp_path: Path
) -> None:
    ca_file, _key, _cert = make_ca(tmp_path / "ca")
    settings = hub_settings(
        database_url,
        "mqtt://hub:pw@broker:1883",
        public_mqtt_host="mqtt.example.org",
        public_mqtt_port=8883,
        public_mqtt_tls=True,
        public_mqtt_ca_file=ca_file,
    )
    for client in make_client(settings):
        device_id = f"edge-{uuid.uuid4().hex[:8]}"
        body = provision(client, settings, device_id)
        assert (body["mqtt_host"], body["mqtt_port"], body["mqtt_tls"]) == ("mqtt.example.org", 8883, True)
        assert body["mqtt_ca_pem"] == ca_file.read_text()
        config = yaml.safe_load(body["config_yaml"])
        assert config["mqtt_url"].startswith(f"mqtts://{device_id}:") and config["mqtt_url"].endswith(":8883")
        assert config["mqtt_ca_file"] == "/etc/cityops/mqtt-ca.pem"
        assert "mqtt_ca_pem" in body["config_yaml"].split("\n", 3)[2]  # the header says where the CA goes
        assert parse_qr_payload(body["qr_payload"])["m"] == f"mqtts://{device_id}@mqtt.example.org:8883"


def test_plain_public_broker_gets_no_ca(database_url: str) -> None:
    settings = hub_settings(database_url, "mqtts://hub:pw@broker:8883", public_mqtt_tls=False)
    for client in make_client(settings):
        body = provision(client, settings, f"edge-{uuid.uuid4().hex[:8]}")
        assert body["mqtt_tls"] is False and body["mqtt_ca_pem"] is None
        assert yaml.safe_load(body["config_yaml"])["mqtt_url"].startswith("mqtt://")


def test_public_ca_settings_are_checked(tmp_path: Path) -> None:
    ca_file, _key, _cert = make_ca(tmp_path / "ca")
    with pytest.raises(ValueError, match="CITYOPS_PUBLIC_MQTT_CA_FILE is set but devices are told plain MQTT"):
        HubSettings(mqtt_url="mqtt://hub:pw@broker:1883", public_mqtt_ca_file=ca_file)
    with pytest.raises(ValueError, match="cannot read"):
        HubSettings(public_mqtt_tls=True, public_mqtt_ca_file=tmp_path / "missing.pem")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        HubSettings(public_mqtt_tls=True, public_mqtt_ca_file=tmp_path / "key.pem")
    assert HubSettings(public_mqtt_ca_file="").public_mqtt_ca_file is None  # compose's unset variable


def test_qr_payload_round_trip_and_refusals() -> None:
    text = qr_payload("edge-0007", "https://hub.example", "mqtts://edge-0007@broker:8883", "s3cr_t-x")
    assert parse_qr_payload(text)["s"] == "s3cr_t-x"
    for bad, reason in (("https://x", "must start with"), (QR_PREFIX + "***", "damaged"),
                        (QR_PREFIX + "e30", "lacks d, h, m, s")):  # fmt: skip
        with pytest.raises(ValueError, match=reason):
            parse_qr_payload(bad)


def test_provisioning_record_says_when_and_by_whom_and_reissues_nothing(
    client: TestClient, settings: HubSettings
) -> None:
    device_id = f"edge-{uuid.uuid4().hex[:8]}"
    first = provision(client, settings, device_id, "tech")
    url = f"/api/v1/devices/{device_id}/provisioning"
    info = client.get(url, headers=auth(settings, "tech")).json()
    assert (info["provisioned_by"], info["provision_count"], info["kind"]) == ("tech", 1, "edge")
    assert info["mqtt_url"] == f"mqtt://{device_id}@broker.internal:18830" and "password" not in str(info)
    assert first["password"] not in str(info)
    provision(client, settings, device_id, "adm")  # re-provisioned by someone else: a new secret
    again = client.get(url, headers=auth(settings, "adm")).json()
    assert (again["provisioned_by"], again["provision_count"]) == ("adm", 2)
    assert again["provisioned_at"] >= info["provisioned_at"] and again["created_at"] == info["created_at"]
    for user in ("boss", "off"):
        assert client.get(url, headers=auth(settings, user)).status_code == 403
    assert client.get("/api/v1/devices/edge-none-1/provisioning", headers=auth(settings, "tech")).status_code == 404


def set_state(database_url: str, device_id: str, online: bool, health_age_s: float | None, **health: object) -> None:
    now = datetime.now(UTC)
    payload = None
    if health_age_s is not None:
        payload = {"ts": (now - timedelta(seconds=health_age_s)).isoformat(), **health}
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE devices SET online = %s, last_seen = %s, health = %s WHERE device_id = %s",
            (online, now if payload else None, Jsonb(payload) if payload else None, device_id),
        )


def test_device_list_filters(client: TestClient, settings: HubSettings, database_url: str) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = {name: f"edge-{tag}-{name}" for name in ("never", "online", "stale", "offline", "faulty")}
    for device_id in ids.values():
        provision(client, settings, device_id)
    sensor = f"wl_{tag}.sensor"
    provision(client, settings, sensor, kind="sensor")
    set_state(database_url, ids["online"], True, 5, cameras=[{"camera_id": "c1", "status": "ok"}])
    set_state(database_url, ids["stale"], True, 400)
    set_state(database_url, ids["offline"], False, 60)
    set_state(database_url, ids["faulty"], True, 5, cameras=[{"camera_id": "c1", "status": "frozen"}],
              config_error="version 3: cam-9 unknown")  # fmt: skip

    def listed(**params: object) -> list[str]:
        r = client.get("/api/v1/devices", params={"q": tag, **params}, headers=auth(settings, "tech"))
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["count"] == len(page["data"]) or params.get("limit")
        return [d["device_id"] for d in page["data"]]

    assert listed() == sorted([*ids.values(), sensor])
    assert listed(kind="sensor") == [sensor]
    assert listed(status="never_seen") == sorted([ids["never"], sensor])
    assert listed(status="online") == [ids["faulty"], ids["online"]]
    assert listed(status="stale") == [ids["stale"]] and listed(status="offline") == [ids["offline"]]
    assert listed(has_fault="true") == [ids["faulty"]]
    assert ids["faulty"] not in listed(has_fault="false") and len(listed(has_fault="false")) == 5
    assert listed(status="online", has_fault="false") == [ids["online"]]
    assert listed(q=f"{tag}-ONLINE") == [ids["online"]]  # any case
    page = client.get("/api/v1/devices", params={"q": tag, "status": "never_seen", "limit": 1, "offset": 1},
                      headers=auth(settings, "boss")).json()  # fmt: skip
    assert page == {"data": [page["data"][0]], "count": 2} and page["data"][0]["device_id"] == sensor
    one = client.get(f"/api/v1/devices/{ids['faulty']}", headers=auth(settings, "adm")).json()
    assert one["faults"] == ["camera c1: frozen", "configuration refused: version 3: cam-9 unknown"]
    assert one["status"] == "online"
    bad = client.get("/api/v1/devices", params={"status": "sleeping"}, headers=auth(settings, "tech"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "status"]
    officer = client.get("/api/v1/devices", params={"status": "online"}, headers=auth(settings, "off"))
    assert officer.status_code == 403


def test_id_substring_is_literal(database_url: str, client: TestClient, settings: HubSettings) -> None:
    tag = uuid.uuid4().hex[:6]
    plain, underscored = f"edge-{tag}-ab", f"edge_{tag}_ab"
    for device_id in (plain, underscored):
        provision(client, settings, device_id)
    with psycopg.connect(database_url) as conn:
        rows, count = list_devices(conn, q=f"_{tag}_")
        assert [r["device_id"] for r in rows] == [underscored] and count == 1  # `_` is not a wildcard
        assert list_devices(conn, q="%")[1] == 0


@pytest.mark.parametrize(
    ("health", "faults"),
    [
        (None, []),
        ({"cameras": [{"camera_id": "a", "status": "ok"}, {"camera_id": "b", "status": "starting"}]}, []),
        ({"cameras": [{"camera_id": "a", "status": "reconnecting"}]}, ["camera a: reconnecting"]),
        ({"cameras": "nonsense", "config_error": None}, []),
        ({"config_error": "version 2: bad"}, ["configuration refused: version 2: bad"]),
        ({"privacy": {"faces_blurred": True}}, []),
        (
            {"privacy": {"faces_blurred": False}},
            ["faces NOT blurred: pictures from this box show faces (privacy.send_faces_unblurred)"],
        ),
    ],
)
def test_device_faults(health: dict | None, faults: list[str]) -> None:
    assert device_faults(health) == faults
