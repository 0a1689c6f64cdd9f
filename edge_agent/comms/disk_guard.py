"""Disk guard: keep a reserve of free space on the data filesystem for the events that matter most.

A full disk used to cost events at random (a write error, SQLite's "database or disk is full"). Instead, work is
ranked (`end` > `start` > `update` > evidence picture > health/telemetry) and refused from the bottom up as free
space shrinks below `reserve_bytes`:

- ok: everything is written.
- low (free < reserve): new pictures (their events go without, saying why), `update` events and spooled
  health/telemetry are refused and counted by reason; health raises the `disk_low` alarm.
- critical (free < reserve / 4): as low, and the outbox also gives back what it holds of low rank (queued
  health/telemetry, pictures not uploaded yet) to keep room for `start` and `end` events.

An `end` closes a situation at the hub, so it is never refused: a ballast file (`ballast_bytes`, allocated while
the disk is ok) is deleted when even an `end` cannot be written, and re-created once space has returned. The
level is read from the filesystem on every decision (one statvfs call), so recovery needs no restart.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BALLAST_NAME = "disk-ballast"
CRITICAL_SHARE = 4  # critical below reserve / 4: leaves room for the ends and starts still to come


class DiskLevel(StrEnum):
    OK = "ok"
    LOW = "low"
    CRITICAL = "critical"


class Work(StrEnum):
    """What wants disk space, most important first."""

    END = "end"
    START = "start"
    UPDATE = "update"
    PICTURE = "picture"
    LOW_PRIORITY = "health_telemetry"


def disk_level(free_bytes: int, reserve_bytes: int) -> DiskLevel:
    if free_bytes >= reserve_bytes:
        return DiskLevel.OK
    return DiskLevel.LOW if free_bytes >= reserve_bytes // CRITICAL_SHARE else DiskLevel.CRITICAL


def admitted(level: DiskLevel, work: Work) -> bool:
    """Below the reserve only the ends and starts of situations are written."""
    return level is DiskLevel.OK or work in (Work.END, Work.START)


def work_for_phase(phase: str) -> Work:
    return {"end": Work.END, "start": Work.START}.get(phase, Work.UPDATE)


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL ("database or disk is full") or the OS's ENOSPC / EDQUOT."""
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def free_bytes_of(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize  # what an unprivileged writer gets; root's reserved blocks are not ours


class DiskGuard:
    def __init__(
        self,
        directory: Path,
        reserve_bytes: int,
        ballast_bytes: int,
        free_bytes: Callable[[Path], int] = free_bytes_of,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.reserve_bytes = reserve_bytes
        self.ballast_bytes = ballast_bytes
        self.ballast = directory / BALLAST_NAME
        self._free_bytes = free_bytes
        self.refused: Counter[str] = Counter()
        """Work refused for lack of space, by `Work` value (and `disk_full` for writes the disk itself refused)."""
        self.ballast_releases = 0
        self.disk_full_errors = 0
        self.level = DiskLevel.OK
        self.free = 0
        self.check()

    def check(self) -> DiskLevel:
        """Read free space, log a change of level, and re-create the ballast once there is room for it."""
        self.free = self._free_bytes(self.directory)
        level = disk_level(self.free, self.reserve_bytes)
        if level is not self.level:
            report = log.info if level is DiskLevel.OK else log.error
            report(
                "DISK %s: %d bytes free on %s (reserve %d)",
                level.upper(),
                self.free,
                self.directory,
                self.reserve_bytes,
            )
            self.level = level
        if level is DiskLevel.OK and self.free - self.ballast_bytes >= self.reserve_bytes:
            self._restore_ballast()
        return level

    def would_admit(self, work: Work) -> bool:
        """`admit` without counting: for a caller that leaves the refusal (and its count) to someone else."""
        return admitted(self.check(), work)

    def admit(self, work: Work) -> bool:
        """May `work` take disk space now? A refusal is counted by its reason."""
        if admitted(self.check(), work):
            return True
        self.refused[work.value] += 1
        return False

    def note_disk_full(self, work: Work, refused: bool) -> None:
        self.disk_full_errors += 1
        if refused:
            self.refused["disk_full"] += 1
        log.error("DISK FULL writing %s (%s)", work.value, "refused" if refused else "making room and retrying")

    def release_ballast(self) -> int:
        """Delete the ballast to make room for an `end`; returns the bytes given back (0 if none was held)."""
        try:
            size = self.ballast.stat().st_size
            self.ballast.unlink()
        except FileNotFoundError:
            return 0
        self.ballast_releases += 1
        log.error("DISK FULL: released the %d-byte ballast to keep an end event", size)
        return size

    def ballast_held(self) -> int:
        try:
            return self.ballast.stat().st_size
        except FileNotFoundError:
            return 0

    def status(self) -> dict[str, Any]:
        """The health report's `disk` field."""
        return {
            "level": self.level.value,
            "free_bytes": self.free,
            "reserve_bytes": self.reserve_bytes,
            "ballast_bytes": self.ballast_held(),
            "refused": dict(self.refused),
            "ballast_releases": self.ballast_releases,
        }

    def alarms(self) -> list[str]:
        return [] if self.level is DiskLevel.OK else [f"disk_{self.level.value}"]

    def _restore_ballast(self) -> None:
        if self.ballast_bytes <= 0 or self.ballast_held() >= self.ballast_bytes:
            return
        try:
            fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.ballast_bytes)  # real blocks: a sparse file would hold nothing back
            finally:
                os.close(fd)
        except OSError as exc:
            self.ballast.unlink(missing_ok=True)
            log.warning("could not allocate the %d-byte disk ballast: %s", self.ballast_bytes, exc)
            return
        log.info("disk ballast of %d bytes in place at %s", self.ballast_bytes, self.ballast)
