"""Edge box configuration files (format owned by edge_agent.config.EdgeConfig): the demo box's, and the one a
technician gets at provisioning (`POST /api/v1/devices` answers it as `config_yaml`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

# Where deploy/jetson puts them (provision.sh, cityops-edge.service).
DEFAULT_DATA_DIR = Path("/var/lib/cityops/data")
DEFAULT_MODELS_DIR = Path("/var/lib/cityops/models")
DEFAULT_CA_FILE = Path("/etc/cityops/mqtt-ca.pem")  # beside /etc/cityops/edge.yaml

CAMERAS_TEMPLATE = """\
# Fill in `cameras` before starting the agent (it refuses an empty list), one entry per camera, e.g.:
# cameras:
#   - camera_id: cam-1                         # 1-64 chars of [A-Za-z0-9_.-]
#     source: rtsp://user:password@192.0.2.10:554/stream   # or a video file, a picture, usb:0
#     fps: 2.0                                 # frames analysed per second
#     rules: /etc/cityops/rules/cam-1.yaml     # its zones and analytics (examples: rules/edge/*.yaml)
#     location: {lon: 118.7969, lat: 32.0603}  # where it looks
"""


def mqtt_url(username: str, password: str | None, host: str, port: int, tls: bool) -> str:
    """`mqtt[s]://user[:password]@host:port`: mqtts when the broker is reached over TLS; no password -> none shown."""
    auth = quote(str(username), safe="")
    if password is not None:
        auth += ":" + quote(str(password), safe="")
    return f"{'mqtts' if tls else 'mqtt'}://{auth}@{host}:{port}"


def _credentials_url(credentials: dict[str, Any]) -> str:
    return mqtt_url(
        credentials["username"],
        credentials["password"],
        credentials["mqtt_host"],
        int(credentials["mqtt_port"]),
        bool(credentials.get("mqtt_tls")),
    )


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
    """Build the config from the hub's provisioning answer (device_id, mqtt_host, mqtt_port, mqtt_tls, username,
    password, hub_url)."""
    identified = {**credentials, "device_id": device_id}
    return {
        **provisioning_config(credentials=identified, data_dir=data_dir, models_dir=models_dir, model=model),
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


def provisioning_config(
    *,
    credentials: dict[str, Any],
    data_dir: Path = DEFAULT_DATA_DIR,
    models_dir: Path = DEFAULT_MODELS_DIR,
    model: str = "yolox_nano",
    trusted_keys: list[str] | None = None,
) -> dict[str, Any]:
    """A new box's whole configuration from the provisioning answer, with an empty camera list to fill in. A private
    CA in the answer (`mqtt_ca_pem`) is expected at DEFAULT_CA_FILE, where provision.sh writes it. `trusted_keys`
    (the hub's model signing public key) lets the box accept the hub's signed model updates."""
    ca_file = {"mqtt_ca_file": str(DEFAULT_CA_FILE)} if credentials.get("mqtt_ca_pem") else {}
    updates = {"model_updates": {"trusted_keys": list(trusted_keys)}} if trusted_keys else {}
    return {
        "device_id": str(credentials["device_id"]),
        "mqtt_url": _credentials_url(credentials),
        **ca_file,
        "hub_url": str(credentials["hub_url"]),
        "data_dir": str(data_dir),
        "models_dir": str(models_dir),
        "model": model,
        "health_interval_s": 30,
        **updates,
        "cameras": [],
    }


def render_edge_yaml(config: dict[str, Any], header: str = "") -> str:
    """The file's text: `header` as comment lines, the config, and the camera template when no camera is set."""
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    return lines + body + (CAMERAS_TEMPLATE if not config.get("cameras") else "")


def write_edge_config(path: Path, config: dict[str, Any]) -> None:
    """Owner-only file: it carries the device secret."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    os.replace(tmp, path)
