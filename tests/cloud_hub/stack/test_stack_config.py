"""Pure parts of the stack: generated configs, ACL sets, state files, choices."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cloud_hub.broker.acl import DEFAULT_ACL_ACCESS, device_acls, device_role_name, hub_acls
from cloud_hub.stack.credentials import SecretsFileError, load_or_create_secrets
from cloud_hub.stack.database import choose_kind
from cloud_hub.stack.demo import find_dispatched, missing_inputs
from cloud_hub.stack.edge_config import edge_config, write_edge_config
from cloud_hub.stack.hub_process import HubLaunch
from cloud_hub.stack.mosquitto import BrokerLimits, render_config
from cloud_hub.stack.paths import StackPaths
from cloud_hub.stack.postgres_common import render_conf, server_settings
from cloud_hub.stack.postgres_plain import reachable_by
from cloud_hub.stack.processes import ProcessRecord, pid_alive, read_record, write_record
from cloud_hub.stack.settings import StackSettings


def _conf_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("root", [True, False])
def test_mosquitto_config_is_locked_down_and_bounded(root: bool) -> None:
    text = render_config(
        host="127.0.0.1",
        port=18830,
        plugin=Path("/usr/lib/x/mosquitto_dynamic_security.so"),
        dynsec_file=Path("/s/dynsec.json"),
        persistence_dir=Path("/s/data"),
        run_as_root=root,
    )
    lines = _conf_lines(text)
    limits = BrokerLimits()
    for expected in (
        "listener 18830 127.0.0.1",
        "allow_anonymous false",
        "plugin /usr/lib/x/mosquitto_dynamic_security.so",
        "plugin_opt_config_file /s/dynsec.json",
        "persistence true",
        f"max_queued_messages {limits.max_queued_messages}",
        f"max_inflight_messages {limits.max_inflight_messages}",
    ):
        assert expected in lines
    packet_limit = int(next(line for line in lines if line.startswith("max_packet_size")).split()[1])
    assert packet_limit > 256 * 1024  # oversized batches reach the hub's dead-letter table
    assert ("user root" in lines) is root


def test_device_acls_confine_a_device_to_its_prefix() -> None:
    acls = device_acls("edge-7")
    allowed_send = [a["topic"] for a in acls if a["acltype"] == "publishClientSend" and a["allow"]]
    assert allowed_send == ["cityops/v1/dev/edge-7/#"]
    denied_send = {a["topic"] for a in acls if a["acltype"] == "publishClientSend" and not a["allow"]}
    hub_topics = {f"cityops/v1/dev/edge-7/{s}" for s in ("ack", "cmd", "config")}
    assert denied_send == hub_topics
    assert all(a["priority"] > 0 for a in acls if not a["allow"])  # the deny wins over the prefix grant
    for kind in ("subscribeLiteral", "publishClientReceive"):
        assert {a["topic"] for a in acls if a["acltype"] == kind} == hub_topics
    assert device_role_name("edge-7") == "device:edge-7"


@pytest.mark.parametrize("bad", ["ab", "edge/7", "edge+", "#", "x" * 65])
def test_device_acls_refuse_ids_that_would_widen_a_topic(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid device_id"):
        device_acls(bad)


def test_hub_acls_cover_shared_subscription_and_control_api() -> None:
    subscribe = {a["topic"] for a in hub_acls("hub") if a["acltype"] == "subscribePattern"}
    assert subscribe == {"cityops/#", "$share/hub/cityops/#", "$CONTROL/dynamic-security/#"}
    assert set(DEFAULT_ACL_ACCESS.values()) == {False}


def test_server_settings_preload_timescaledb_only_when_asked() -> None:
    with_ts = server_settings(port=55432, host="127.0.0.1", socket_dir="/run/x", timescaledb=True)
    plain = server_settings(port=55432, host="127.0.0.1", socket_dir="/run/x", timescaledb=False)
    assert with_ts["shared_preload_libraries"] == "'timescaledb'"
    assert with_ts["timescaledb.telemetry_level"] == "off"
    assert "shared_preload_libraries" not in plain
    assert "port = 55432" in render_conf(plain)
    assert "listen_addresses = '127.0.0.1'" in render_conf(plain)


@pytest.mark.parametrize(
    ("requested", "root", "ready", "can_build", "kind", "noted"),
    [
        ("auto", True, True, False, "timescaledb", False),
        ("auto", True, False, True, "timescaledb", False),
        ("auto", True, False, False, "postgres", True),
        ("auto", False, True, True, "postgres", True),
        ("postgres", True, True, True, "postgres", False),
        ("timescaledb", False, False, False, "timescaledb", False),
    ],
)
def test_choose_kind(requested: str, root: bool, ready: bool, can_build: bool, kind: str, noted: bool) -> None:
    chosen, note = choose_kind(requested, root=root, rootfs_ready=ready, can_build=can_build)  # type: ignore[arg-type]
    assert chosen == kind
    assert (note is not None) is noted


def test_instance_key_is_stable_per_state_dir(tmp_path: Path) -> None:
    a = StackPaths.create(tmp_path / "a", tmp_path / "cache")
    assert a.instance_key == StackPaths.create(tmp_path / "x" / ".." / "a", tmp_path / "cache").instance_key
    assert a.instance_key != StackPaths.create(tmp_path / "b", tmp_path / "cache").instance_key
    assert a.rootfs_dir == (tmp_path / "cache" / "tsdb-trixie").resolve()


def test_secrets_are_created_private_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secrets.json"
    first = load_or_create_secrets(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secrets(path) == first
    assert first.hub_mqtt_password != first.broker_admin_password
    assert len(first.jwt_secret) >= 32


def test_damaged_secrets_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"hub_mqtt_password": "x"}))
    with pytest.raises(SecretsFileError, match=r"secrets\.json"):
        load_or_create_secrets(path)


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOPS_STACK_MQTT_PORT", "70000")
    with pytest.raises(ValidationError, match="stack_mqtt_port"):
        StackSettings()
    monkeypatch.setenv("CITYOPS_STACK_MQTT_PORT", "18831")
    monkeypatch.setenv("CITYOPS_STACK_DB", "mysql")
    with pytest.raises(ValidationError, match="stack_db"):
        StackSettings()


def test_process_records_round_trip_and_detect_dead_pids(tmp_path: Path) -> None:
    record = ProcessRecord(component="broker", pid=2**22 + 7, port=1, cmdline_hint="mosquitto")
    write_record(tmp_path, record)
    assert read_record(tmp_path, "broker") == record
    assert read_record(tmp_path, "hub") is None
    assert not pid_alive(record.pid)
    assert pid_alive(1) and not pid_alive(1, "no-such-command-line-xyz")


def test_reachable_by_follows_directory_permissions(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    target = private / "pg"
    me = (os.getuid(), os.getgid())  # owner of every temp dir on the way: the owner bits decide
    assert reachable_by(target, *me)
    private.chmod(0o600)
    try:
        assert not reachable_by(target, *me)
        assert not reachable_by(target, 65534, 65534)  # nobody: no "other" bits on a 0600 directory
    finally:
        private.chmod(0o700)


def test_edge_config_quotes_credentials_and_is_private(tmp_path: Path) -> None:
    credentials = {
        "username": "edge-demo-01",
        "password": "p@ss/word:1",
        "mqtt_host": "127.0.0.1",
        "mqtt_port": 18830,
        "hub_url": "http://127.0.0.1:8765",
    }
    config = edge_config(
        device_id="edge-demo-01",
        credentials=credentials,
        data_dir=tmp_path / "data",
        models_dir=Path("/m"),
        camera_id="cam-demo-01",
        source=Path("/media/demo.jpg"),
        rules=Path("/r/demo-street.yaml"),
        location={"lon": 118.7969, "lat": 32.0603},
    )
    assert config["mqtt_url"] == "mqtt://edge-demo-01:p%40ss%2Fword%3A1@127.0.0.1:18830"
    path = tmp_path / "edge.yaml"
    write_edge_config(path, config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = yaml.safe_load(path.read_text())
    assert loaded["cameras"][0]["location"] == {"lon": 118.7969, "lat": 32.0603}
    from edge_agent.config import EdgeConfig  # the edge agent's own model accepts what the demo writes

    EdgeConfig.model_validate(loaded)


def test_find_dispatched_prefers_new_work_orders() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    old = {"id": 1, "incident_id": 10}
    new = {"id": 2, "incident_id": 11}
    seen_again = {"id": 10, "last_seen": (since + timedelta(seconds=5)).isoformat()}
    stale = {"id": 10, "last_seen": (since - timedelta(days=1)).isoformat()}
    found = find_dispatched([new, old], [seen_again], {1}, since)
    assert found is not None and found.work_order == new and found.new
    found = find_dispatched([old], [seen_again], {1}, since)
    assert found is not None and found.work_order == old and not found.new
    assert find_dispatched([old], [stale], {1}, since) is None


def test_missing_demo_inputs_are_named(tmp_path: Path) -> None:
    problems = missing_inputs(tmp_path / "media" / "x.jpg", tmp_path / "models", tmp_path / "rules.yaml")
    assert len(problems) == 3
    assert str(tmp_path / "media" / "x.jpg") in problems[0]
    assert "yolox_nano.onnx" in problems[1]


def test_hub_environment_carries_the_stack_settings(tmp_path: Path) -> None:
    launch = HubLaunch(
        database_url="postgresql://cityops@127.0.0.1:5/cityops",
        mqtt_url="mqtt://cityops-hub:pw@127.0.0.1:6",
        http_host="127.0.0.1",
        http_port=7,
        jwt_secret="j",
        admin_user="admin",
        admin_password="a",
        evidence_dir=tmp_path / "evidence",
        rules_dir=tmp_path / "rules",
    )
    env = launch.environment({"PATH": "/bin", "CITYOPS_HTTP_PORT": "1"})
    assert env["PATH"] == "/bin"
    assert env["CITYOPS_HTTP_PORT"] == "7"
    assert env["CITYOPS_DEMO_SEED"] == "true"
    assert env["CITYOPS_PUBLIC_URL"] == "http://127.0.0.1:7"
    assert env["CITYOPS_EVIDENCE_DIR"] == str(tmp_path / "evidence")
