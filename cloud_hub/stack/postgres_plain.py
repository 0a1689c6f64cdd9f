"""Plain PostgreSQL from the host's packages (/usr/lib/postgresql/N), the fallback when TimescaleDB cannot be had.

The data directory lives in the state dir. As root the server runs as user `postgres` (PostgreSQL refuses root);
when that user cannot reach the state dir (a state dir under /root, a private temp dir) the data directory goes
to /var/lib/cityops/<instance key> instead, and the stack says so.
"""

from __future__ import annotations

import pwd
import stat
from pathlib import Path, PurePosixPath

from cloud_hub.stack.errors import DatabaseServerError
from cloud_hub.stack.pg_ctl import PgCtlServer, highest_bindir, is_root

FALLBACK_ROOT = Path("/var/lib/cityops")
SERVER_USER = "postgres"


def reachable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether a process with uid/gid can traverse every existing ancestor of `path`."""
    for ancestor in [path, *path.parents]:
        try:
            st = ancestor.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def instance_dir_for(postgres_dir: Path, instance_key: str) -> Path:
    """Where the plain server's files go: the state dir when the server user can reach it."""
    if not is_root():
        return postgres_dir
    user = pwd.getpwnam(SERVER_USER)
    if reachable_by(postgres_dir.parent, user.pw_uid, user.pw_gid):
        return postgres_dir
    return FALLBACK_ROOT / instance_key


def plain_server(postgres_dir: Path, instance_key: str) -> PgCtlServer:
    bindir = highest_bindir(Path("/"))
    if bindir is None:
        raise DatabaseServerError("no PostgreSQL server found in /usr/lib/postgresql (apt-get install postgresql)")
    if is_root():
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError as exc:
            raise DatabaseServerError("running PostgreSQL as root needs a `postgres` user") from exc
        wrap = ["runuser", "-u", SERVER_USER, "--"]
    else:
        wrap = []
    return PgCtlServer(
        host_root=Path("/"),
        wrap=wrap,
        bindir=bindir,
        instance_dir=PurePosixPath(instance_dir_for(postgres_dir, instance_key)),
    )


def chown_argv() -> list[str]:
    return ["chown", f"{SERVER_USER}:{SERVER_USER}"] if is_root() else []
