"""One PostgreSQL server driven by initdb/pg_ctl, run as user `postgres`, optionally inside a chroot.

Paths come in two views: the server's (inside the chroot) and the host's (`host_root` + server path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from cloud_hub.stack.errors import DatabaseServerError
from cloud_hub.stack.postgres_common import SUPERUSER, install_conf, server_settings
from cloud_hub.stack.processes import pid_alive


class PgCtlServer:
    def __init__(
        self, *, host_root: Path, wrap: Sequence[str], bindir: PurePosixPath, instance_dir: PurePosixPath
    ) -> None:
        self.host_root = host_root
        self.wrap = list(wrap)  # e.g. ["chroot", ROOTFS, "runuser", "-u", "postgres", "--"]
        self.bindir = bindir
        self.instance_dir = instance_dir  # server view; holds data/, the log and the socket

    def host_path(self, server_path: PurePosixPath) -> Path:
        return self.host_root / server_path.relative_to("/")

    @property
    def data_dir(self) -> Path:
        return self.host_path(self.instance_dir / "data")

    @property
    def log_file(self) -> Path:
        return self.host_path(self.instance_dir / "postgresql.log")

    def _run(self, argv: Sequence[str], what: str, timeout_s: float = 120.0) -> str:
        # New session: pg_ctl's postmaster must not share the terminal's process group (Ctrl-C would stop it).
        result = subprocess.run(
            [*self.wrap, *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout_s,
            start_new_session=True,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            raise DatabaseServerError(f"{what} failed (exit {result.returncode}): {detail}")
        return result.stdout

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def initialize(self, owner_argv: Sequence[str]) -> None:
        """initdb into instance_dir/data; `owner_argv` makes instance_dir belong to the server user first."""
        instance = self.host_path(self.instance_dir)
        instance.mkdir(parents=True, exist_ok=True, mode=0o700)
        if owner_argv:
            subprocess.run([*owner_argv, str(self.instance_dir)], check=True, capture_output=True)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.instance_dir / "data"),
                "-U",
                SUPERUSER,
                "--auth=trust",  # loopback-only development server; see deploy/cloud/local/README.md
                "-E",
                "UTF8",
                "--no-locale",
            ],
            "initdb",
        )

    def configure(self, *, host: str, port: int, timescaledb: bool) -> None:
        install_conf(
            self.data_dir,
            server_settings(port=port, host=host, socket_dir=str(self.instance_dir), timescaledb=timescaledb),
        )

    def running_pid(self) -> int | None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError, PermissionError):
            return None
        return pid if pid_alive(pid, "postgres") else None

    def start(self, timeout_s: float = 90.0) -> int:
        try:
            self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.instance_dir / "data"),
                    "-l",
                    str(self.instance_dir / "postgresql.log"),
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                    "start",
                ],
                "pg_ctl start",
                timeout_s=timeout_s + 10,
            )
        except (DatabaseServerError, subprocess.TimeoutExpired) as exc:
            raise DatabaseServerError(f"{exc}\nlast lines of {self.log_file}:\n{self._log_tail()}") from exc
        pid = self.running_pid()
        if pid is None:
            raise DatabaseServerError(f"pg_ctl reported a start but no server runs; see {self.log_file}")
        return pid

    def stop(self, timeout_s: float = 60.0) -> bool:
        if self.running_pid() is None:
            return False
        self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.instance_dir / "data"), "-m", "fast", "-w", "stop"],
            "pg_ctl stop",
            timeout_s=timeout_s,
        )
        return True

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.host_path(self.instance_dir), ignore_errors=True)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def highest_bindir(host_root: Path) -> PurePosixPath | None:
    """Server view of the newest /usr/lib/postgresql/N/bin that has initdb, under `host_root`."""
    found = []
    for initdb in (host_root / "usr/lib/postgresql").glob("*/bin/initdb"):
        version = initdb.parent.parent.name
        if version.isdigit():
            found.append((int(version), PurePosixPath("/") / initdb.parent.relative_to(host_root)))
    return max(found)[1] if found else None


def is_root() -> bool:
    return os.geteuid() == 0
