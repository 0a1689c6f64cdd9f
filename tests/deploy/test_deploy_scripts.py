"""The deployment scripts run for real: provision.sh against a stand-in `cityops` CLI (the hub's JSON answer),
build-engine.sh with a stand-in `trtexec` (no GPU here), broker_setup.py against a private Mosquitto."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import load_config

ROOT = Path(__file__).resolve().parents[2]
PROVISION = ROOT / "deploy" / "jetson" / "provision.sh"
BUILD_ENGINE = ROOT / "deploy" / "jetson" / "build-engine.sh"
BROKER_SETUP = ROOT / "deploy" / "cloud" / "broker_setup.py"

ANSWER = {
    "device_id": "edge-site-07",
    "mqtt_host": "mqtt.example.org",
    "mqtt_port": 1883,
    "username": "edge-site-07",
    "password": "s3cr@t/with:odd chars",
    "hub_url": "https://hub.example.org",
}
SITE = textwrap.dedent(
    """\
    cameras:
      - camera_id: cam-north
        source: rtsp://10.0.0.5/stream1
        fps: 2
        rules: rules/street.yaml
    log_level: INFO
    """
)


def executable(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def answering_cli(tmp_path: Path, answer: dict[str, object]) -> Path:
    """Stands in for `cityops`: records its arguments and prints `answer` as the hub's provisioning answer."""
    return executable(
        tmp_path / "fake-cityops",
        "#!/usr/bin/env bash\n"
        f'echo "$*" > {tmp_path}/cli-args\n'
        f'echo "$CITYOPS_HUB_URL $CITYOPS_ADMIN_USER $CITYOPS_ADMIN_PASSWORD" > {tmp_path}/cli-env\n'
        f"cat <<'JSON'\n{json.dumps(answer)}\nJSON\n",
    )


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    return answering_cli(tmp_path, ANSWER)


def run_provision(tmp_path: Path, cli: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "CITYOPS_CLI": str(cli),
        "CITYOPS_HUB_URL": "https://hub.example.org",
        "CITYOPS_ADMIN_PASSWORD": "admin-pass",
    }
    return subprocess.run(
        ["bash", str(PROVISION), *args], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
    )


def test_provision_writes_a_private_valid_edge_config(tmp_path: Path, fake_cli: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    output = tmp_path / "etc" / "edge.yaml"
    result = run_provision(
        tmp_path,
        fake_cli,
        "--id",
        "edge-site-07",
        "--site",
        str(site),
        "--output",
        str(output),
        "--lon",
        "118.79",
        "--lat",
        "32.06",
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli-args").read_text().split() == [
        "device",
        "provision",
        "--id",
        "edge-site-07",
        "--kind",
        "edge",
        "--json",
        "--lon",
        "118.79",
        "--lat",
        "32.06",
    ]
    assert (tmp_path / "cli-env").read_text().split() == ["https://hub.example.org", "admin", "admin-pass"]
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    config = load_config(output)  # the edge agent's own parser accepts the file
    assert config.device_id == "edge-site-07"
    assert config.mqtt.username == "edge-site-07"
    assert config.mqtt.password == ANSWER["password"]
    assert (config.mqtt.host, config.mqtt.port) == ("mqtt.example.org", 1883)
    assert not config.mqtt.tls and config.mqtt_ca_file is None  # the answer says plain MQTT and gives no CA
    assert not (output.parent / "mqtt-ca.pem").exists()
    assert config.hub_url == "https://hub.example.org"
    assert [c.camera_id for c in config.cameras] == ["cam-north"]
    assert config.data_dir == tmp_path / "data"
    assert not list(output.parent.glob(".edge.yaml.*")), "temporary file left behind"


def test_provision_writes_mqtts_and_the_private_ca_when_the_hub_says_tls(tmp_path: Path) -> None:
    from tests.tls_certs import make_ca

    ca_file, _key, _cert = make_ca(tmp_path / "hub-ca")
    ca_pem = ca_file.read_text()
    cli = answering_cli(tmp_path, {**ANSWER, "mqtt_port": 8883, "mqtt_tls": True, "mqtt_ca_pem": ca_pem})
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    output = tmp_path / "etc" / "edge.yaml"
    result = run_provision(tmp_path, cli, "--id", "edge-site-07", "--site", str(site), "--output", str(output))
    assert result.returncode == 0, result.stderr
    written_ca = output.parent / "mqtt-ca.pem"
    assert written_ca.read_text() == ca_pem
    assert stat.S_IMODE(written_ca.stat().st_mode) == 0o600
    config = load_config(output)  # the agent's loader also checks that the CA file is there
    assert config.mqtt.tls and (config.mqtt.host, config.mqtt.port) == ("mqtt.example.org", 8883)
    assert config.mqtt_url.startswith("mqtts://edge-site-07:")
    assert config.mqtt_ca_file == written_ca
    assert not list(output.parent.glob(".edge.yaml.*")) and not list(output.parent.glob(".mqtt-ca.pem.*"))


def test_provision_writes_mqtts_without_a_ca_file_for_a_public_ca(tmp_path: Path) -> None:
    cli = answering_cli(tmp_path, {**ANSWER, "mqtt_port": 8883, "mqtt_tls": True, "mqtt_ca_pem": None})
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    output = tmp_path / "edge.yaml"
    ca_file = tmp_path / "certs" / "broker-ca.pem"
    result = run_provision(
        tmp_path, cli, "--id", "edge-site-07", "--site", str(site), "--output", str(output), "--ca-file", str(ca_file)
    )
    assert result.returncode == 0, result.stderr
    config = load_config(output)
    assert config.mqtt.tls and config.mqtt_ca_file is None  # the system's CAs are trusted
    assert not ca_file.exists() and not list(ca_file.parent.iterdir())


def test_provision_refuses_a_ca_without_tls(tmp_path: Path) -> None:
    cli = answering_cli(tmp_path, {**ANSWER, "mqtt_tls": False, "mqtt_ca_pem": "-----BEGIN CERTIFICATE-----\n"})
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    output = tmp_path / "edge.yaml"
    result = run_provision(tmp_path, cli, "--id", "edge-site-07", "--site", str(site), "--output", str(output))
    assert result.returncode == 1
    assert "mqtt_ca_pem needs mqtt_tls true" in result.stderr
    assert not output.exists() and not (tmp_path / "mqtt-ca.pem").exists()


def test_provision_refuses_to_overwrite_without_force(tmp_path: Path, fake_cli: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    output = tmp_path / "edge.yaml"
    output.write_text("existing\n", encoding="utf-8")
    result = run_provision(tmp_path, fake_cli, "--id", "edge-site-07", "--site", str(site), "--output", str(output))
    assert result.returncode == 1
    assert "--force" in result.stderr
    assert output.read_text() == "existing\n"
    assert not (tmp_path / "cli-args").exists(), "the hub must not be asked (it would rotate the secret)"
    forced = run_provision(
        tmp_path, fake_cli, "--id", "edge-site-07", "--site", str(site), "--output", str(output), "--force"
    )
    assert forced.returncode == 0, forced.stderr
    assert load_config(output).device_id == "edge-site-07"


@pytest.mark.parametrize(
    ("site_text", "args", "message"),
    [
        (SITE, ["--id", "x"], "must be 3-64 chars"),
        ("log_level: INFO\n", ["--id", "edge-site-07"], "no top-level 'cameras:'"),
        ("mqtt_url: mqtt://a:b@c:1\n" + SITE, ["--id", "edge-site-07"], "must not set mqtt_url"),
        ("mqtt_ca_file: ca.pem\n" + SITE, ["--id", "edge-site-07"], "must not set mqtt_ca_file"),
        (SITE, ["--id", "edge-site-07", "--lon", "1"], "--lon and --lat go together"),
    ],
)
def test_provision_rejects_bad_input_by_name(
    tmp_path: Path, fake_cli: Path, site_text: str, args: list[str], message: str
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(site_text, encoding="utf-8")
    result = run_provision(tmp_path, fake_cli, *args, "--site", str(site), "--output", str(tmp_path / "edge.yaml"))
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "edge.yaml").exists()


def test_provision_reports_a_hub_refusal(tmp_path: Path) -> None:
    refusing = executable(tmp_path / "refusing", "#!/usr/bin/env bash\necho 'login failed' >&2\nexit 1\n")
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    result = run_provision(
        tmp_path, refusing, "--id", "edge-site-07", "--site", str(site), "--output", str(tmp_path / "edge.yaml")
    )
    assert result.returncode == 1
    assert "did not provision edge-site-07" in result.stderr
    assert not (tmp_path / "edge.yaml").exists()
    assert not list(tmp_path.glob(".edge.yaml.*"))


@pytest.fixture
def engine_setup(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A models dir with one ONNX file, a manifest naming its sha256, and a `trtexec` that writes the engine."""
    models = tmp_path / "models"
    models.mkdir()
    onnx = models / "tiny.onnx"
    onnx.write_bytes(b"not really onnx, but hashed like one")
    manifest = tmp_path / "manifest.yaml"
    digest = hashlib.sha256(onnx.read_bytes()).hexdigest()
    manifest.write_text(f"version: 1\nmodels:\n  - name: tiny\n    file: tiny.onnx\n    sha256: {digest}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(
        bin_dir / "trtexec",
        "#!/usr/bin/env bash\n"
        f'echo "$*" > {tmp_path}/trtexec-args\n'
        'for a in "$@"; do case $a in --saveEngine=*) echo engine > "${a#--saveEngine=}" ;; esac; done\n',
    )
    env = {"PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return models, manifest, env


def test_build_engine_verifies_sha256_then_builds_fp16_next_to_the_model(
    tmp_path: Path, engine_setup: tuple[Path, Path, dict[str, str]]
) -> None:
    models, manifest, env = engine_setup
    result = subprocess.run(
        ["bash", str(BUILD_ENGINE), "tiny", "--models-dir", str(models), "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (models / "tiny.fp16.engine").read_text() == "engine\n"
    args = (tmp_path / "trtexec-args").read_text().split()
    assert f"--onnx={models / 'tiny.onnx'}" in args and "--fp16" in args
    assert not (models / "tiny.fp16.engine.partial").exists()


def test_build_engine_refuses_a_wrong_checksum_before_building(
    tmp_path: Path, engine_setup: tuple[Path, Path, dict[str, str]]
) -> None:
    models, manifest, env = engine_setup
    (models / "tiny.onnx").write_bytes(b"truncated download")
    result = subprocess.run(
        ["bash", str(BUILD_ENGINE), "tiny", "--models-dir", str(models), "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stderr
    assert not (tmp_path / "trtexec-args").exists(), "trtexec must not run on an unverified model"
    assert not (models / "tiny.fp16.engine").exists()


def test_build_engine_names_an_unknown_model(engine_setup: tuple[Path, Path, dict[str, str]]) -> None:
    models, manifest, env = engine_setup
    result = subprocess.run(
        ["bash", str(BUILD_ENGINE), "nope", "--models-dir", str(models), "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert "'nope' is not in" in result.stderr and "known: tiny" in result.stderr


def _broker_unavailable() -> str | None:
    from cloud_hub.stack.mosquitto import BrokerError, find_dynsec_plugin, find_executable

    try:
        find_executable("mosquitto", "/usr/sbin/mosquitto")
        find_executable("mosquitto_ctrl", "/usr/bin/mosquitto_ctrl")
        find_dynsec_plugin()
    except BrokerError as exc:
        return str(exc)
    return None


def test_broker_setup_creates_the_hub_identity(tmp_path: Path) -> None:
    reason = _broker_unavailable()
    if reason:
        pytest.skip(reason)
    from cloud_hub.stack.mosquitto import start_isolated_broker

    broker = start_isolated_broker(tmp_path / "broker")
    try:
        admin = broker.admin_endpoint
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "BROKER_ADMIN_URL": f"mqtt://{admin.username}:{admin.password}@{broker.host}:{broker.port}",
            "CITYOPS_MQTT_URL": f"mqtt://hub-from-setup:pw-from-setup@{broker.host}:{broker.port}",
            "CITYOPS_SHARE_GROUP": "hub",
        }
        result = subprocess.run(
            [sys.executable, str(BROKER_SETUP)], capture_output=True, text=True, env=env, check=False, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "hub-from-setup" in result.stdout
        assert _connack(broker.host, broker.port, "hub-from-setup", "pw-from-setup") == 0
        assert _connack(broker.host, broker.port, "hub-from-setup", "wrong") != 0
    finally:
        broker.stop()


def test_broker_setup_names_a_missing_admin_url() -> None:
    result = subprocess.run(
        [sys.executable, str(BROKER_SETUP)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert "BROKER_ADMIN_URL" in result.stderr


def _connack(host: str, port: int, username: str, password: str, ca_file: Path | None = None) -> int:
    """CONNACK reason code for a login (0 = accepted); over TLS trusting `ca_file` when given."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{username}", protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    if ca_file is not None:
        client.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
    codes: list[int] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason.value)
    try:
        client.connect(host, port)
    except ssl.SSLError:
        raise
    except OSError as exc:
        pytest.fail(f"broker unreachable: {exc}")
    for _ in range(100):
        client.loop(timeout=0.1)
        if codes:
            break
    client.disconnect()
    assert codes, "no CONNACK"
    return codes[0]


def test_the_deployed_mosquitto_conf_serves_tls_to_devices(tmp_path: Path) -> None:
    """deploy/cloud/mosquitto/mosquitto.conf as shipped, with only its container paths and ports moved into tmp_path:
    the TLS listener takes a login over TLS and cuts off plain MQTT; the internal listener speaks plain MQTT."""
    reason = _broker_unavailable()
    if reason:
        pytest.skip(reason)
    from cloud_hub.stack.mosquitto import find_dynsec_plugin, find_executable
    from cloud_hub.stack.processes import free_tcp_port, terminate, wait_for_port
    from tests.tls_certs import make_ca, make_server_certs

    certs = make_server_certs(tmp_path / "certs")
    certs.certfile.rename(certs.certfile.with_name("tls.crt"))
    certs.keyfile.rename(certs.keyfile.with_name("tls.key"))
    (tmp_path / "data").mkdir()
    tls_port, plain_port = free_tcp_port(), free_tcp_port()
    text = (ROOT / "deploy" / "cloud" / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    text = (
        text.replace("listener 8883 0.0.0.0", f"listener {tls_port} 127.0.0.1")
        .replace("listener 1883 0.0.0.0", f"listener {plain_port} 127.0.0.1")
        .replace("/mosquitto/certs/", f"{tmp_path}/certs/")
        .replace("/mosquitto/data/", f"{tmp_path}/data/")
        .replace("/usr/lib/mosquitto_dynamic_security.so", str(find_dynsec_plugin()))
    )
    if os.geteuid() == 0:
        text += "user root\n"  # as root Mosquitto would switch to user mosquitto, which cannot enter tmp_path
    (tmp_path / "mosquitto.conf").write_text(text, encoding="utf-8")
    ctrl = find_executable("mosquitto_ctrl", "/usr/bin/mosquitto_ctrl")
    init = [str(ctrl), "dynsec", "init", f"{tmp_path}/data/dynamic-security.json", "cityops-admin", "admin-pw"]
    subprocess.run(init, check=True, capture_output=True, timeout=30)
    mosquitto = find_executable("mosquitto", "/usr/sbin/mosquitto")
    with open(tmp_path / "broker.log", "wb") as log:
        process = subprocess.Popen([str(mosquitto), "-c", str(tmp_path / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        for port in (tls_port, plain_port):
            wait_for_port("127.0.0.1", port, 15, lambda: process.poll() is None, "mosquitto")
        assert _connack("127.0.0.1", plain_port, "cityops-admin", "admin-pw") == 0
        assert _connack("localhost", tls_port, "cityops-admin", "admin-pw", ca_file=certs.ca_file) == 0
        assert _connack("localhost", tls_port, "cityops-admin", "wrong", ca_file=certs.ca_file) != 0
        other_ca, _key, _cert = make_ca(tmp_path / "other")
        with pytest.raises(ssl.SSLCertVerificationError):
            _connack("localhost", tls_port, "cityops-admin", "admin-pw", ca_file=other_ca)
        with pytest.raises(AssertionError, match="no CONNACK"):
            _connack("127.0.0.1", tls_port, "cityops-admin", "admin-pw")  # plain MQTT on the TLS port
    finally:
        terminate(process.pid)
        process.wait(timeout=10)
