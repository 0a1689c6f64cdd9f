"""The stack's database server: TimescaleDB in a chroot when possible, plain PostgreSQL otherwise."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path

from cloud_hub.stack import postgres_plain, timescaledb_chroot
from cloud_hub.stack.errors import DatabaseServerError
from cloud_hub.stack.paths import StackPaths
from cloud_hub.stack.pg_ctl import PgCtlServer, is_root
from cloud_hub.stack.postgres_common import DatabaseHandle, bootstrap_database
from cloud_hub.stack.processes import (
    ProcessRecord,
    free_tcp_port,
    port_open,
    read_record,
    record_alive,
    remove_record,
    write_record,
)
from cloud_hub.stack.settings import DatabaseChoice, DatabaseKind, StackSettings

COMPONENT = "database"
Progress = Callable[[str], None]


def choose_kind(
    requested: DatabaseChoice, *, root: bool, rootfs_ready: bool, can_build: bool
) -> tuple[DatabaseKind, str | None]:
    """Which server to run, and a note when `auto` settles for plain PostgreSQL."""
    if requested != "auto":
        return requested, None
    if root and (rootfs_ready or can_build):
        return "timescaledb", None
    if not root:
        return "postgres", "not running as root, so no chroot for TimescaleDB: using plain PostgreSQL"
    return "postgres", "debootstrap is missing, so TimescaleDB cannot be installed: using plain PostgreSQL"


def _server(kind: DatabaseKind, paths: StackPaths) -> tuple[PgCtlServer, list[str]]:
    if kind == "timescaledb":
        rootfs = paths.rootfs_dir
        return timescaledb_chroot.chroot_server(rootfs, paths.instance_key), timescaledb_chroot.chown_argv(rootfs)
    return postgres_plain.plain_server(paths.postgres_dir, paths.instance_key), postgres_plain.chown_argv()


def _ensure_timescaledb_rootfs(paths: StackPaths, requested: DatabaseChoice, progress: Progress) -> DatabaseKind:
    if timescaledb_chroot.rootfs_ready(paths.rootfs_dir):
        return "timescaledb"
    try:
        timescaledb_chroot.build_rootfs(paths.rootfs_dir, progress)
    except timescaledb_chroot.RootfsError as exc:
        if requested == "timescaledb":
            raise
        progress(f"WARNING: TimescaleDB unavailable ({exc}); falling back to plain PostgreSQL")
        return "postgres"
    return "timescaledb"


def _handle(
    paths: StackPaths,
    kind: DatabaseKind,
    server: PgCtlServer,
    host: str,
    port: int,
    pid: int,
    started: bool,
    version: str | None,
) -> DatabaseHandle:
    return DatabaseHandle(
        kind=kind,
        host=host,
        port=port,
        pid=pid,
        data_dir=server.data_dir,
        started=started,
        timescaledb_version=version,
        _stop=lambda destroy: stop_database(paths, destroy=destroy),
    )


def start_database(
    paths: StackPaths,
    *,
    requested: DatabaseChoice = "auto",
    port: int,
    host: str = "127.0.0.1",
    progress: Progress = lambda _line: None,
) -> DatabaseHandle:
    """Start this state dir's server unless it runs; create role, database and (TimescaleDB) the extension."""
    paths.ensure()
    record = read_record(paths.run_dir, COMPONENT)
    if record_alive(record):
        assert record is not None
        kind: DatabaseKind = "timescaledb" if record.details.get("kind") == "timescaledb" else "postgres"
        if requested not in ("auto", kind):
            progress(f"WARNING: the running database is {kind}, not {requested}; run `cityops stack down` to switch")
        server, _ = _server(kind, paths)
        version = record.details.get("timescaledb_version") or None
        return _handle(paths, kind, server, host, record.port or port, record.pid, False, version)
    remove_record(paths.run_dir, COMPONENT)

    kind, note = choose_kind(
        requested,
        root=is_root(),
        rootfs_ready=timescaledb_chroot.rootfs_ready(paths.rootfs_dir),
        can_build=timescaledb_chroot.can_build_rootfs(),
    )
    if note:
        progress(f"WARNING: {note}")
    if kind == "timescaledb":
        if not is_root():
            raise DatabaseServerError("TimescaleDB runs in a chroot, which needs root; use --database postgres")
        kind = _ensure_timescaledb_rootfs(paths, requested, progress)
    server, owner_argv = _server(kind, paths)
    if kind == "timescaledb":
        timescaledb_chroot.ensure_proc(paths.rootfs_dir)

    pid = server.running_pid()  # ours from an earlier `stack up` whose record was lost: adopt it
    if pid is None:
        if port_open(host, port):
            raise DatabaseServerError(
                f"port {host}:{port} is already taken by another process; set CITYOPS_STACK_PG_PORT"
            )
        if not server.initialized():
            progress(f"initdb {kind} data directory {server.data_dir}")
            server.initialize(owner_argv)
        if kind == "postgres" and not str(server.data_dir).startswith(str(paths.state_dir)):
            progress(f"note: user postgres cannot enter {paths.state_dir}; data directory is {server.data_dir}")
        server.configure(host=host, port=port, timescaledb=kind == "timescaledb")
        progress(f"starting {kind} on {host}:{port}")
        pid = server.start()
    try:
        handle = _handle(paths, kind, server, host, port, pid, True, None)
        version = bootstrap_database(handle.superuser_url, timescaledb=kind == "timescaledb")
    except Exception:
        server.stop()
        if kind == "timescaledb":
            timescaledb_chroot.release_proc(paths.rootfs_dir)
        raise
    details = {"kind": kind, "data_dir": str(server.data_dir), "timescaledb_version": version or ""}
    write_record(
        paths.run_dir,
        ProcessRecord(component=COMPONENT, pid=pid, port=port, cmdline_hint="postgres", details=details),
    )
    _link_log(paths.log_file(COMPONENT), server.log_file)
    return _handle(paths, kind, server, host, port, pid, True, version)


def _link_log(link: Path, target: Path) -> None:
    """The server logs where it can write (inside the chroot); the state dir's logs/ points there."""
    with contextlib.suppress(OSError):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


def database_status(paths: StackPaths) -> ProcessRecord | None:
    record = read_record(paths.run_dir, COMPONENT)
    return record if record_alive(record) else None


def stop_database(paths: StackPaths, destroy: bool = False) -> bool:
    """Stop the server this state dir started (and with `destroy` delete its data); True when one was stopped."""
    record = read_record(paths.run_dir, COMPONENT)
    if record is None:
        if destroy:  # already stopped: still delete this state dir's data, unless a server of it somehow runs
            for any_kind in ("timescaledb", "postgres"):
                server, _ = _server(any_kind, paths)
                if server.running_pid() is None:
                    shutil.rmtree(server.host_path(server.instance_dir), ignore_errors=True)
        return False
    kind: DatabaseKind = "timescaledb" if record.details.get("kind") == "timescaledb" else "postgres"
    server, _ = _server(kind, paths)
    stopped = server.stop()
    if destroy:
        server.destroy()
    if kind == "timescaledb":
        timescaledb_chroot.release_proc(paths.rootfs_dir)
    remove_record(paths.run_dir, COMPONENT)
    return stopped


def start_isolated_database(
    tmp_dir: Path, kind: DatabaseChoice = "auto", port: int | None = None, cache_dir: Path | None = None
) -> DatabaseHandle:
    """A database server of its own for `tmp_dir` on a free port (tests). `handle.url` is the app role's URL,
    `handle.superuser_url` the superuser's; `handle.stop(destroy=True)` also deletes the data directory."""
    cache = cache_dir or StackSettings().cache_dir
    paths = StackPaths.create(tmp_dir, cache)
    return start_database(paths, requested=kind, port=port or free_tcp_port())
