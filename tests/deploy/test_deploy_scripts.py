"""The deployment scripts run for real: provision.sh against a stand-in `cityops` CLI (its arguments; the CLI
itself is tested end to end in tests/cloud_hub/devices/test_devices_provision_e2e.py),
build-engine.sh with a stand-in `trtexec` (no GPU here), broker_setup.py against a private Mosquitto."""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[2]
PROVISION = ROOT / "deploy" / "jetson" / "provision.sh"
BUILD_ENGINE = ROOT / "deploy" / "jetson" / "build-engine.sh"
BROKER_SETUP = ROOT / "deploy" / "cloud" / "broker_setup.py"


def executable(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def recording_cli(tmp_path: Path, status: int = 0, message: str = "") -> Path:
    """Stands in for `cityops`: records its arguments, prints `message` to stderr and exits with `status`."""
    return executable(
        tmp_path / "fake-cityops",
        f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {tmp_path}/cli-args\necho "{message}" >&2\nexit {status}\n',
    )


def run_provision(tmp_path: Path, cli: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "CITYOPS_CLI": str(cli)}
    return subprocess.run(
        ["bash", str(PROVISION), *args], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
    )


def test_provision_sh_parses() -> None:
    assert subprocess.run(["bash", "-n", str(PROVISION)], check=False).returncode == 0


def test_provision_runs_cityops_edge_provision_and_starts_the_unit(tmp_path: Path) -> None:
    cli = recording_cli(tmp_path)
    result = run_provision(tmp_path, cli, "--hub", "https://hub.example.org", "--token", "tok-1", "--site", "s.yaml")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli-args").read_text().split() == [
        "edge", "provision", "--hub", "https://hub.example.org", "--token", "tok-1", "--site", "s.yaml", "--systemd",
    ]  # fmt: skip


def test_provision_passes_the_qr_code_and_no_start(tmp_path: Path) -> None:
    cli = recording_cli(tmp_path)
    result = run_provision(tmp_path, cli, "--qr", "cityops:2:abc", "--force", "--no-start")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli-args").read_text().split() == [
        "edge", "provision", "--qr", "cityops:2:abc", "--force", "--no-start",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--token"),
        (("--hub", "https://h", "--bogus"), "unknown argument: --bogus"),
        (("--token",), "--token needs a value"),
    ],
)
def test_provision_rejects_bad_input_by_name(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_provision(tmp_path, recording_cli(tmp_path), *args)
    assert result.returncode != 0 and message in result.stderr


def test_provision_reports_a_hub_refusal(tmp_path: Path) -> None:
    cli = recording_cli(tmp_path, 1, "error: the hub refused the token (410): provisioning token already used at X")
    result = run_provision(tmp_path, cli, "--hub", "https://h", "--token", "t")
    assert result.returncode == 1
    assert "already used at" in result.stderr and "provisioning failed" in result.stderr


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
