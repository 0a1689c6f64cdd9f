"""The demo edge box's configuration file (format owned by edge_agent.config.EdgeConfig)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml


def edge_config(
    *,
    device_id: str,
    credentials: dict[str, Any],
    data_dir: Path,
    models_dir: Path,
    camera_id: str,
    source: Path,
    rules: Path,
    location: dict[str, float],
    model: str = "yolox_nano",
    fps: float = 2.0,
) -> dict[str, Any]:
    """Build the config from the hub's provisioning answer (device_id, mqtt_host, mqtt_port, username, password,
    hub_url)."""
    user = quote(str(credentials["username"]), safe="")
    password = quote(str(credentials["password"]), safe="")
    mqtt_url = f"mqtt://{user}:{password}@{credentials['mqtt_host']}:{credentials['mqtt_port']}"
    return {
        "device_id": device_id,
        "mqtt_url": mqtt_url,
        "hub_url": str(credentials["hub_url"]),
        "data_dir": str(data_dir),
        "models_dir": str(models_dir),
        "model": model,
        "health_interval_s": 30,
        "cameras": [
            {
                "camera_id": camera_id,
                "source": str(source),
                "fps": fps,
                "location": {"lon": location["lon"], "lat": location["lat"]},
                "rules": str(rules),
            }
        ],
    }


def write_edge_config(path: Path, config: dict[str, Any]) -> None:
    """Owner-only file: it carries the device secret."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    os.replace(tmp, path)
