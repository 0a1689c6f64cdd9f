"""Helpers of the device control tests: an IngestService stand-in, auth headers, provisioning."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from fastapi.testclient import TestClient

from cityops.contract.messages import DeviceConfig
from cloud_hub.auth.security import create_access_token
from cloud_hub.core.config import HubSettings

ROLES = {"adm": "admin", "tech": "technician", "boss": "commander", "off": "officer"}


class RecordingIngest:
    """Stands in for IngestService's hub -> device side: records commands and configs; `fail` makes it raise."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, str, dict[str, Any]]] = []
        self.configs: list[tuple[str, dict[str, Any]]] = []
        self.fail: Exception | None = None

    def send_command(self, device_id: str, name: str, args: dict[str, Any] | None = None) -> str:
        if self.fail is not None:
            raise self.fail
        cmd_id = str(uuid.uuid4())
        self.commands.append((device_id, cmd_id, name, args or {}))
        return cmd_id

    def publish_config(self, device_id: str, config: dict[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        DeviceConfig.model_validate(config)  # as the real one: an integer version is required
        self.configs.append((device_id, config))


class RecordingBrokerAdmin:
    def available(self) -> bool:
        return True

    def provision_device(self, device_id: str, password: str) -> None:
        pass


def bearer(settings: HubSettings, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_access_token(settings, username, ROLES[username])}"}


def basic(device_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{device_id}:{secret}".encode()).decode()}


def provision(client: TestClient, settings: HubSettings) -> tuple[str, str]:
    """A new edge device; returns (device_id, secret)."""
    device_id = f"edge-{uuid.uuid4().hex[:8]}"
    r = client.post("/api/v1/devices", json={"device_id": device_id, "kind": "edge"}, headers=bearer(settings, "tech"))
    assert r.status_code == 201, r.text
    return device_id, r.json()["password"]
