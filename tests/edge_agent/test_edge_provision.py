"""`cityops edge provision` pieces without a hub: the token QR code, the https rule, site files, private writes."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from edge_agent.provision import ProvisionError, Target, build_config, check_hub_url, parse_qr, provision, write_private


def code(prefix: str, data: dict) -> str:
    return prefix + base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_token_code_is_read_and_bad_codes_are_named() -> None:
    assert parse_qr(code("cityops:2:", {"h": "https://hub", "t": "tok"})) == Target("https://hub", "tok")
    with pytest.raises(ProvisionError, match="version 1"):
        parse_qr(code("cityops:1:", {"d": "x"}))
    with pytest.raises(ProvisionError, match="lacks t"):
        parse_qr(code("cityops:2:", {"h": "https://hub"}))
    with pytest.raises(ProvisionError, match="must start with"):
        parse_qr("https://hub")


def test_plain_http_needs_allowing() -> None:
    assert check_hub_url("https://hub.example/", False) == "https://hub.example"
    with pytest.raises(ProvisionError, match="--allow-http"):
        check_hub_url("http://hub.example", False)
    assert check_hub_url("http://hub.example", True) == "http://hub.example"
    with pytest.raises(ProvisionError, match="https://"):
        check_hub_url("ftp://hub", True)


def test_site_file_adds_cameras_but_not_identity(tmp_path: Path) -> None:
    answer = {"config_yaml": "device_id: edge-1\nmqtt_url: mqtt://edge-1:s@b:1883\ncameras: []\n"}
    config, ca = build_config(answer, tmp_path / "edge.yaml", {"cameras": [{"camera_id": "c"}]})
    assert config["cameras"] == [{"camera_id": "c"}] and ca is None
    with pytest.raises(ProvisionError, match="must not set mqtt_url"):
        build_config(answer, tmp_path / "edge.yaml", {"mqtt_url": "mqtt://x"})
    config, ca = build_config({**answer, "mqtt_ca_pem": "PEM"}, tmp_path / "edge.yaml", None)
    assert config["mqtt_ca_file"] == str(tmp_path / "mqtt-ca.pem") and ca == "PEM"


def test_private_write_and_no_overwrite_before_spending_the_token(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "edge.yaml"
    write_private(target, "a: 1\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    # An existing file is refused before anything is sent (the unreachable hub is never asked).
    with pytest.raises(ProvisionError, match="--force"):
        provision(Target("https://127.0.0.1:1", "tok"), target)
    with pytest.raises(ProvisionError, match="cannot reach the hub"):
        provision(Target("https://127.0.0.1:1", "tok"), target, force=True)
    assert target.read_text() == "a: 1\n"


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    write_private(tmp_path / "edge.yaml", "a: 1\n")
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # never tighten /tmp or a home folder
    assert stat.S_IMODE((tmp_path / "edge.yaml").stat().st_mode) == 0o600
