"""PostgreSQL 17 + TimescaleDB from a Debian 13 root filesystem, run with chroot (TimescaleDB is not in Debian 12).

The root filesystem is built once into the cache dir and shared by every state dir; each state dir has its own
data directory inside it (/var/lib/cityops/<instance key>), so several stacks run side by side.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from cloud_hub.stack.errors import StackError
from cloud_hub.stack.pg_ctl import PgCtlServer, highest_bindir, is_root
from cloud_hub.stack.processes import pid_alive

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("postgresql-17", "postgresql-17-timescaledb")
INSTANCES_DIR = PurePosixPath("/var/lib/cityops")


class RootfsError(StackError):
    pass


def debootstrap_argv(debootstrap: str, target: Path) -> list[str]:
    return [
        debootstrap,
        "--variant=minbase",
        "--components=main,contrib",
        "--include=" + ",".join(PACKAGES),
        SUITE,
        str(target),
        MIRROR,
    ]


def rootfs_ready(rootfs: Path) -> bool:
    """A finished root filesystem (a build in progress lives in `<name>.partial` and never counts)."""
    bindir = highest_bindir(rootfs) if rootfs.is_dir() else None
    return bindir is not None and any((rootfs / "usr/lib/postgresql").glob("*/lib/timescaledb.so"))


def can_build_rootfs() -> bool:
    return is_root() and shutil.which("debootstrap") is not None


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (for unmounting)."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_all(path: Path) -> None:
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)
    if mounts_under(path):
        raise RootfsError(f"cannot unmount everything under {path}; unmount by hand before deleting it")


def build_rootfs(rootfs: Path, progress: Callable[[str], None]) -> None:
    """debootstrap into `<rootfs>.partial`, renamed to `rootfs` only when complete (~40 s, ~700 MB)."""
    if not is_root():
        raise RootfsError("building the TimescaleDB root filesystem needs root (debootstrap, chroot)")
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise RootfsError("debootstrap not found (apt-get install debootstrap)")
    partial = rootfs.with_name(rootfs.name + ".partial")
    if partial.exists():
        progress(f"removing an unfinished build at {partial}")
        unmount_all(partial)  # an interrupted debootstrap may leave /proc mounted inside; never delete through it
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building Debian {SUITE} with {', '.join(PACKAGES)} into {partial} (once; about a minute)")
    tail: collections.deque[str] = collections.deque(maxlen=25)
    process = subprocess.Popen(
        debootstrap_argv(debootstrap, partial), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        tail.append(line.rstrip())
        progress("debootstrap: " + line.rstrip())
    if process.wait() != 0:
        unmount_all(partial)
        raise RootfsError(f"debootstrap failed (exit {process.returncode}; offline?). Last lines:\n" + "\n".join(tail))
    unmount_all(partial)
    if not rootfs_ready(partial):
        raise RootfsError(f"debootstrap finished but {partial} has no PostgreSQL with TimescaleDB")
    partial.rename(rootfs)
    progress(f"TimescaleDB root filesystem ready at {rootfs}")


def chroot_server(rootfs: Path, instance_key: str) -> PgCtlServer:
    bindir = highest_bindir(rootfs)
    if bindir is None:
        raise RootfsError(f"{rootfs} has no /usr/lib/postgresql/*/bin/initdb")
    return PgCtlServer(
        host_root=rootfs,
        wrap=["chroot", str(rootfs), "runuser", "-u", "postgres", "--"],
        bindir=bindir,
        instance_dir=INSTANCES_DIR / instance_key,
    )


def chown_argv(rootfs: Path) -> list[str]:
    """Make a directory (server view) belong to the rootfs's own `postgres` user (its uid differs from the host's)."""
    return ["chroot", str(rootfs), "chown", "postgres:postgres"]


def ensure_proc(rootfs: Path) -> None:
    """PostgreSQL and runuser need /proc inside the chroot."""
    proc = rootfs / "proc"
    if not os.path.ismount(proc):
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True, capture_output=True)


def running_instances(rootfs: Path) -> list[int]:
    """Postmaster pids of every instance in this rootfs (other state dirs' servers included)."""
    pids = []
    for pid_file in (rootfs / INSTANCES_DIR.relative_to("/")).glob("*/data/postmaster.pid"):
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            continue
        if pid_alive(pid, "postgres"):
            pids.append(pid)
    return pids


def release_proc(rootfs: Path) -> bool:
    """Unmount the chroot's /proc once no server of any state dir runs in it; True when unmounted."""
    proc = rootfs / "proc"
    if running_instances(rootfs) or not os.path.ismount(proc):
        return False
    subprocess.run(["umount", str(proc)], check=False, capture_output=True)
    return not os.path.ismount(proc)
