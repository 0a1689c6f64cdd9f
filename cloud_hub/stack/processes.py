"""Background processes of the stack: spawn detached, records in the run dir, liveness, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ProcessRecord(BaseModel):
    """What `stack up` started, so `stack down` stops exactly that (and nothing the user started)."""

    model_config = ConfigDict(extra="forbid")

    component: str
    pid: int
    port: int | None = None
    # A substring of /proc/PID/cmdline: guards against a recycled pid being taken for our process.
    cmdline_hint: str
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    details: dict[str, str] = Field(default_factory=dict)


def record_path(run_dir: Path, component: str) -> Path:
    return run_dir / f"{component}.json"


def write_record(run_dir: Path, record: ProcessRecord) -> None:
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = record_path(run_dir, record.component)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.model_dump_json(indent=2))
    os.replace(tmp, path)


def read_record(run_dir: Path, component: str) -> ProcessRecord | None:
    path = record_path(run_dir, component)
    try:
        return ProcessRecord.model_validate_json(path.read_text())
    except FileNotFoundError:
        return None
    except ValidationError as exc:
        raise RuntimeError(f"{path}: damaged process record ({exc}); stop the process by hand and delete it") from exc


def remove_record(run_dir: Path, component: str) -> None:
    record_path(run_dir, component).unlink(missing_ok=True)


def pid_alive(pid: int, cmdline_hint: str | None = None) -> bool:
    """True when `pid` runs (not a zombie) and, if given, its command line contains `cmdline_hint`."""
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return False
    return cmdline_hint is None or cmdline_hint in cmdline


def record_alive(record: ProcessRecord | None) -> bool:
    return record is not None and pid_alive(record.pid, record.cmdline_hint)


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie that still looks alive to kill(0)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pid: int, cmdline_hint: str | None = None, timeout_s: float = 15.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout_s`. Returns False when the process was not running."""
    if not pid_alive(pid, cmdline_hint):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    return True


def spawn_detached(
    argv: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a background process in its own session (Ctrl-C in the terminal does not reach it), output appended
    to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout_s: float, alive: Callable[[], bool], what: str) -> None:
    """Wait until `host:port` accepts connections; fail early when the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if not alive():
            raise RuntimeError(f"{what} exited before listening on {host}:{port}")
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on {host}:{port} within {timeout_s:.0f} s")


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (for tests that run isolated instances side by side)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
