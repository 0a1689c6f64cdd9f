"""Hub start/wait/stop logic against a tiny stand-in server (the real hub is `python -m cityops.cli hub run`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cloud_hub.stack.hub_process import HubLaunch, HubStartError, health_ok, hub_status, start_hub, stop_hub
from cloud_hub.stack.processes import free_tcp_port, pid_alive

STAND_IN = """
import http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == "/healthz" else 404
        self.send_response(code); self.end_headers(); self.wfile.write(b'{"status": "ok"}')
print("stand-in hub for", os.environ["CITYOPS_DATABASE_URL"], flush=True)
if os.environ.get("STAND_IN_FAIL"):
    sys.exit("cannot connect to the database")
http.server.HTTPServer(("127.0.0.1", int(os.environ["CITYOPS_HTTP_PORT"])), Handler).serve_forever()
"""


def _launch(tmp_path: Path) -> HubLaunch:
    return HubLaunch(
        database_url="postgresql://cityops@127.0.0.1:1/cityops",
        mqtt_url="mqtt://u:p@127.0.0.1:1",
        http_host="127.0.0.1",
        http_port=free_tcp_port(),
        jwt_secret="j",
        admin_user="admin",
        admin_password="a",
        evidence_dir=tmp_path / "evidence",
        rules_dir=tmp_path / "rules",
    )


@pytest.fixture
def stand_in(tmp_path: Path) -> list[str]:
    script = tmp_path / "stand_in_hub.py"
    script.write_text(STAND_IN)
    return [sys.executable, str(script)]


def test_start_waits_for_health_and_stop_ends_it(tmp_path: Path, stand_in: list[str]) -> None:
    launch = _launch(tmp_path)
    run_dir, log = tmp_path / "run", tmp_path / "hub.log"
    pid, started = start_hub(launch, run_dir=run_dir, log_file=log, argv=stand_in, cmdline_hint="stand_in_hub")
    try:
        assert started and health_ok(launch.url)
        assert start_hub(launch, run_dir=run_dir, log_file=log, argv=stand_in, cmdline_hint="stand_in_hub") == (
            pid,
            False,
        )
        record = hub_status(run_dir)
        assert record is not None and record.pid == pid and record.port == launch.http_port
        assert "stand-in hub for postgresql://cityops@127.0.0.1:1/cityops" in log.read_text()
    finally:
        assert stop_hub(run_dir)
    assert not pid_alive(pid)
    assert hub_status(run_dir) is None
    assert not stop_hub(run_dir)


def test_a_hub_that_dies_at_start_is_reported_with_its_log(
    tmp_path: Path, stand_in: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAND_IN_FAIL", "1")
    with pytest.raises(HubStartError, match="cannot connect to the database"):
        start_hub(_launch(tmp_path), run_dir=tmp_path / "run", log_file=tmp_path / "hub.log", argv=stand_in)
    assert hub_status(tmp_path / "run") is None


def test_a_taken_port_is_refused_before_starting(tmp_path: Path, stand_in: list[str]) -> None:
    first = _launch(tmp_path)
    start_hub(first, run_dir=tmp_path / "a", log_file=tmp_path / "a.log", argv=stand_in, cmdline_hint="stand_in")
    try:
        with pytest.raises(HubStartError, match="already taken"):
            start_hub(first, run_dir=tmp_path / "b", log_file=tmp_path / "b.log", argv=stand_in)
    finally:
        stop_hub(tmp_path / "a")
