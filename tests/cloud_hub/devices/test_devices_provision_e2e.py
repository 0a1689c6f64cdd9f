"""Provisioning end to end: the real hub app over HTTP (uvicorn on a free port) with the suite's Mosquitto (dynamic
security), a technician's one-time token, and `cityops edge provision` run as the box would run it."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
import uvicorn
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from cloud_hub.app import create_app
from cloud_hub.auth.security import create_access_token
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.config import HubSettings

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, HubSettings]]:
    port = free_port()
    root = tmp_path_factory.mktemp("hub")
    settings = HubSettings(
        database_url=database_url,
        mqtt_url=os.environ["CITYOPS_TEST_MQTT_URL"],
        scheduler=False,
        ingest=False,
        jwt_secret=SecretStr("e2e-provision-secret-0123456789abcdef"),
        evidence_dir=root / "evidence",
        http_port=port,
        public_url=f"http://127.0.0.1:{port}",
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # startup migrates the database: wait for it, whatever it takes
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.05)
    with psycopg.connect(database_url, autocommit=True) as conn:
        ensure_user(conn, "tech", "tech-password", "technician")
    yield settings.hub_url, settings
    server.should_exit = True
    thread.join(timeout=30)


def provision_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "cityops.cli", "edge", "provision", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def connack(mqtt_url: str, username: str, password: str) -> int:
    """The broker's CONNACK reason code for these credentials (0: accepted)."""
    parts = urlsplit(mqtt_url)
    result: list[int] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)

    def on_connect(_c: object, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        result.append(rc.value)
        done.set()

    client.on_connect = on_connect
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


def test_box_provisions_itself_with_a_one_time_token(hub: tuple[str, HubSettings], tmp_path: Path) -> None:
    hub_url, settings = hub
    headers = {"Authorization": f"Bearer {create_access_token(settings, 'tech', 'technician')}"}
    with httpx.Client(base_url=hub_url, headers=headers, timeout=30) as api:
        first = api.post("/api/v1/devices", json={"device_id": "edge-e2e-prov", "kind": "edge"})
        assert first.status_code in (200, 201), first.text
        old_secret = first.json()["password"]
        token = api.post("/api/v1/devices/edge-e2e-prov/provisioning-tokens", json={}).json()["token"]
        signing_key = api.get("/api/v1/models/signing-key").json()["public_key"]

    config_path = tmp_path / "etc" / "edge.yaml"
    site = tmp_path / "site.yaml"  # what the technician knows on site: the cameras
    camera = {"camera_id": "cam-1", "source": str(tmp_path / "a.mp4"), "fps": 1.0,
              "rules": str(REPO / "rules" / "edge" / "demo-street.yaml")}  # fmt: skip
    site.write_text(yaml.safe_dump({"cameras": [camera]}))
    refused = provision_cli("--hub", hub_url, "--token", token, "--no-start", "--config", str(config_path))
    assert refused.returncode == 1 and "--allow-http" in refused.stderr  # plain http needs saying so

    done = provision_cli("--hub", hub_url, "--token", token, "--allow-http", "--no-start", "--config",
                         str(config_path), "--site", str(site))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_path.parent.stat().st_mode) == 0o700

    from edge_agent.config import EdgeConfig

    written = yaml.safe_load(config_path.read_text())
    assert written["device_id"] == "edge-e2e-prov"
    parsed = EdgeConfig.model_validate(written)  # the file as written is a valid agent configuration
    assert parsed.model_updates.trusted_keys == [signing_key]

    url = urlsplit(written["mqtt_url"])
    assert url.scheme in ("mqtt", "mqtts")
    new_secret = unquote(url.password or "")
    assert new_secret and new_secret != old_secret
    assert connack(written["mqtt_url"], "edge-e2e-prov", new_secret) == 0
    assert connack(written["mqtt_url"], "edge-e2e-prov", old_secret) != 0  # the old secret is refused at once

    exists = provision_cli("--hub", hub_url, "--token", token, "--allow-http", "--no-start", "--config",
                           str(config_path))  # fmt: skip
    assert exists.returncode == 1 and "--force" in exists.stderr
    again = provision_cli("--hub", hub_url, "--token", token, "--allow-http", "--no-start", "--force", "--config",
                          str(config_path))  # fmt: skip
    assert again.returncode == 1 and "already used at" in again.stderr, again.stderr


def test_an_expired_token_is_refused_with_its_time(hub: tuple[str, HubSettings], tmp_path: Path) -> None:
    hub_url, settings = hub
    headers = {"Authorization": f"Bearer {create_access_token(settings, 'tech', 'technician')}"}
    with httpx.Client(base_url=hub_url, headers=headers, timeout=30) as api:
        assert api.post("/api/v1/devices", json={"device_id": "edge-e2e-old", "kind": "edge"}).status_code in (200, 201)
        issued = api.post("/api/v1/devices/edge-e2e-old/provisioning-tokens", json={"ttl_s": 60}).json()
    with psycopg.connect(settings.database_url) as conn:  # the clock moves past expiry: backdate, no sleeping
        conn.execute("UPDATE provisioning_tokens SET created_at = created_at - interval '2 hours',"
                     " expires_at = expires_at - interval '1 hour' WHERE device_id = 'edge-e2e-old'")  # fmt: skip
    done = provision_cli("--qr", issued["qr_payload"], "--allow-http", "--no-start", "--config",
                         str(tmp_path / "edge.yaml"))  # fmt: skip
    assert done.returncode == 1 and "expired at" in done.stderr, done.stderr
    assert not (tmp_path / "edge.yaml").exists()
