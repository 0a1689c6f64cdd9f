"""The hub as a background process of the stack: environment, start, wait for /healthz, stop."""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloud_hub.stack.errors import StackError
from cloud_hub.stack.processes import (
    ProcessRecord,
    log_tail,
    port_open,
    read_record,
    record_alive,
    remove_record,
    spawn_detached,
    terminate,
    write_record,
)

COMPONENT = "hub"
CMDLINE_HINT = "cityops"


class HubStartError(StackError):
    pass


@dataclass(frozen=True, slots=True)
class HubLaunch:
    """Everything the hub process gets from the stack (as CITYOPS_* variables)."""

    database_url: str
    mqtt_url: str
    http_host: str
    http_port: int
    jwt_secret: str
    admin_user: str
    admin_password: str
    evidence_dir: Path
    rules_dir: Path
    demo_seed: bool = True

    @property
    def url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        env = dict(base)
        env.update(
            {
                "CITYOPS_DATABASE_URL": self.database_url,
                "CITYOPS_MQTT_URL": self.mqtt_url,
                "CITYOPS_HTTP_HOST": self.http_host,
                "CITYOPS_HTTP_PORT": str(self.http_port),
                "CITYOPS_PUBLIC_URL": self.url,
                "CITYOPS_JWT_SECRET": self.jwt_secret,
                "CITYOPS_ADMIN_USER": self.admin_user,
                "CITYOPS_ADMIN_PASSWORD": self.admin_password,
                "CITYOPS_EVIDENCE_DIR": str(self.evidence_dir),
                "CITYOPS_RULES_DIR": str(self.rules_dir),
                "CITYOPS_DEMO_SEED": "true" if self.demo_seed else "false",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env


def hub_argv() -> list[str]:
    return [sys.executable, "-m", "cityops.cli", "hub", "run"]


def health_ok(url: str, timeout_s: float = 2.0) -> bool:
    """GET {url}/healthz answers 200 (the hub serves; `degraded` ingest still counts as up)."""
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(url: str, timeout_s: float, alive: Callable[[], bool], log_file: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if health_ok(url):
            return
        if not alive():
            raise HubStartError(f"the hub exited during start-up; last lines of {log_file}:\n{log_tail(log_file)}")
        time.sleep(0.25)
    raise HubStartError(
        f"the hub did not answer {url}/healthz within {timeout_s:.0f} s; last lines of {log_file}:\n"
        + log_tail(log_file)
    )


def start_hub(
    launch: HubLaunch,
    *,
    run_dir: Path,
    log_file: Path,
    timeout_s: float = 120.0,
    argv: Sequence[str] | None = None,
    cmdline_hint: str = CMDLINE_HINT,
    cwd: Path | None = None,
) -> tuple[int, bool]:
    """Start the hub unless this state dir's hub runs; returns (pid, started). `argv` replaces the real command
    (`python -m cityops.cli hub run`) in tests; `cmdline_hint` is a part of its command line that identifies it."""
    record = read_record(run_dir, COMPONENT)
    if record_alive(record):
        assert record is not None
        return record.pid, False
    remove_record(run_dir, COMPONENT)
    if port_open(launch.http_host, launch.http_port):
        raise HubStartError(
            f"port {launch.http_host}:{launch.http_port} is already taken by another process; set CITYOPS_HTTP_PORT"
        )
    command = list(argv) if argv is not None else hub_argv()
    process = spawn_detached(command, log_file, env=launch.environment(os.environ), cwd=cwd)
    try:
        wait_healthy(launch.url, timeout_s, lambda: process.poll() is None, log_file)
    except HubStartError:
        terminate(process.pid)
        raise
    write_record(
        run_dir,
        ProcessRecord(component=COMPONENT, pid=process.pid, port=launch.http_port, cmdline_hint=cmdline_hint),
    )
    return process.pid, True


def hub_status(run_dir: Path) -> ProcessRecord | None:
    record = read_record(run_dir, COMPONENT)
    return record if record_alive(record) else None


def stop_hub(run_dir: Path, timeout_s: float = 20.0) -> bool:
    record = read_record(run_dir, COMPONENT)
    stopped = record is not None and terminate(record.pid, record.cmdline_hint, timeout_s)
    remove_record(run_dir, COMPONENT)
    return stopped
