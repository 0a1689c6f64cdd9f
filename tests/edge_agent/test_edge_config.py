from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_agent.config import ConfigError, MqttUrl, load_config, parse_config
from edge_agent.rules import load_rules

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "edge_agent" / "examples" / "edge.example.yaml"


def minimal(**extra) -> dict:
    return {
        "device_id": "edge-demo-01",
        "mqtt_url": "mqtt://edge-demo-01:s3cret@127.0.0.1:18830",
        "hub_url": "http://127.0.0.1:8765",
        "data_dir": "data",
        "models_dir": "/models",
        "cameras": [{"camera_id": "cam-1", "source": "street.jpg", "rules": "rules.yaml"}],
        **extra,
    }


def test_example_config_is_valid_and_paths_resolve_against_its_folder() -> None:
    config = load_config(EXAMPLE)
    assert config.device_id == "edge-demo-01" and config.model == "yolox_nano"
    assert config.cameras[0].rules == REPO / "rules" / "edge" / "demo-street.yaml"
    assert config.cameras[0].source.endswith("/shared/media/mmdet_demo.jpg")
    assert config.mqtt == MqttUrl(
        host="127.0.0.1", port=18830, username="edge-demo-01", password="CHANGE-ME", tls=False
    )


def test_errors_name_file_and_field(tmp_path: Path) -> None:
    bad = minimal(cameras=[{"camera_id": "cam-1", "source": "x.jpg", "rules": "r.yaml", "fps": 0, "colour": 1}])
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}: cameras[0].fps: Input should be greater than 0" in message
    assert f"{path}: cameras[0].colour: Extra inputs are not permitted (unknown key" in message


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"device_id": "x"}, "device_id"),
        ({"mqtt_url": "http://h:1"}, "mqtt:// or mqtts://"),
        ({"hub_url": "ftp://h"}, "hub_url"),
        ({"cameras": []}, "cameras"),
    ],
)
def test_bad_values_are_refused(change: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_config(minimal(**change), source="edge.yaml")


def test_duplicate_cameras_refused() -> None:
    cam = {"camera_id": "cam-1", "source": "a.jpg", "rules": "r.yaml"}
    with pytest.raises(ConfigError, match="repeated: cam-1"):
        parse_config(minimal(cameras=[cam, cam]))


def test_environment_overrides_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOPS_EDGE_MQTT_URL", "mqtts://dev:pw@broker.example:8883")
    config = parse_config(minimal())
    assert config.mqtt.tls and config.mqtt.host == "broker.example" and config.mqtt.password == "pw"


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_demo_rules_load() -> None:
    rules = load_rules(REPO / "rules" / "edge" / "demo-street.yaml")
    (parking,) = rules.analytics
    assert parking.dwell_s == 10 and parking.update_every_s == 30 and parking.zones == ["zone-a"]
    assert set(parking.classes) == {"car", "truck", "bus", "motorcycle"}


def test_rules_with_unknown_zone_or_class_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nzones: [{id: a, polygon: [[0, 0], [1, 0], [1, 1]]}]\nanalytics: [{type: parking, zones: [b]}]\n"
    )
    with pytest.raises(ConfigError, match=r"unknown zones \['b'\]"):
        load_rules(path)
    path.write_text(
        "version: 1\nzones: [{id: a, polygon: [[0, 0], [1, 0], [1, 1]]}]\n"
        "analytics: [{type: parking, zones: [a], classes: [cars]}]\n"
    )
    with pytest.raises(ConfigError, match=r"analytics\[0\].classes: \['cars'\]"):
        load_rules(path).check_classes(("car", "truck"), str(path))
    path.write_text("version: 1\nzones: [{id: a, polygon: [[0, 0], [1, 0], [1, 1]]}]\nanalytics: [{type: flood}]\n")
    with pytest.raises(ConfigError, match=r"analytics\[0\]"):
        load_rules(path)


def test_mqtt_ca_file_resolves_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "mqtt-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(minimal(mqtt_url="mqtts://d:pw@broker.example", mqtt_ca_file="mqtt-ca.pem")))
    config = load_config(path)
    assert config.mqtt_ca_file == tmp_path / "mqtt-ca.pem"
    assert config.mqtt.tls and config.mqtt.port == 8883


def test_missing_mqtt_ca_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(minimal(mqtt_url="mqtts://d:pw@broker.example", mqtt_ca_file="gone.pem")))
    with pytest.raises(ConfigError, match=rf"{path}: mqtt_ca_file: {tmp_path / 'gone.pem'} does not exist"):
        load_config(path)


def test_mqtt_ca_file_without_tls_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    with pytest.raises(ConfigError, match="mqtt_ca_file is set but mqtt_url is mqtt://"):
        parse_config(minimal(mqtt_ca_file=str(tmp_path / "ca.pem")), source="edge.yaml")
