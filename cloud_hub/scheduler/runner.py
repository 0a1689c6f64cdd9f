"""Runs periodic jobs so that, across any number of hub replicas, each job runs by one replica at a time and
at most once per interval.

Per job: `pg_try_advisory_lock` on a key derived from the job's name (a replica that does not get it skips the
job: another one is running it), then the `scheduler_jobs` row decides whether the interval has passed since the
last start by any replica, on the database's clock (replicas' clocks may differ). The lock is a session lock on
the runner's autocommit connection, which the job itself uses, so a job may commit in several steps (bounded
retention batches) and the lock still covers all of them; a replica that dies loses its session and its locks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

log = logging.getLogger(__name__)

JobFunction = Callable[[psycopg.Connection, datetime], str]  # (autocommit connection, now) -> one-line report


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval: timedelta
    run: JobFunction

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise ValueError(f"job name {self.name!r} must be 1 to 64 characters")
        if self.interval <= timedelta(0):
            raise ValueError(f"job {self.name}: interval must be positive, got {self.interval}")


@dataclass(frozen=True, slots=True)
class JobOutcome:
    name: str
    ran: bool
    ok: bool | None = None  # None when it did not run
    detail: str = ""  # the job's report, its error, or why it did not run


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job name (the same on every replica and Python run)."""
    digest = hashlib.sha256(f"cityops.scheduler:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def default_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRunner:
    def __init__(self, jobs: Sequence[Job], runner_id: str | None = None) -> None:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique: {names}")
        self.jobs = tuple(jobs)
        self.runner_id = runner_id or default_runner_id()

    def run_due(self, conn: psycopg.Connection) -> list[JobOutcome]:
        """Run every job that is due and not running elsewhere; `conn` must be in autocommit mode."""
        if not conn.autocommit:
            raise ValueError("JobRunner needs an autocommit connection (jobs commit in their own steps)")
        return [self.run_one(conn, job) for job in self.jobs]

    def run_one(self, conn: psycopg.Connection, job: Job) -> JobOutcome:
        key = lock_key(job.name)
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            return JobOutcome(job.name, ran=False, detail="running on another replica")
        try:
            now = self._claim(conn, job)
            if now is None:
                return JobOutcome(job.name, ran=False, detail="not due yet")
            try:
                detail, ok = job.run(conn, now), True
            except psycopg.OperationalError:
                raise  # the connection is gone: the caller reconnects; the lock went with the session
            except Exception as exc:  # one failing job must not stop the others; the next interval retries
                log.exception("scheduled job %s failed", job.name)
                detail, ok = f"{type(exc).__name__}: {exc}", False
            conn.execute(
                "UPDATE scheduler_jobs SET last_finished_at = clock_timestamp(), last_ok = %s, last_detail = %s,"
                " runs = runs + 1 WHERE name = %s",
                (ok, detail[:2000], job.name),
            )
            if ok:
                log.info("job %s: %s", job.name, detail)
            return JobOutcome(job.name, ran=True, ok=ok, detail=detail)
        finally:
            if not conn.closed and not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _claim(self, conn: psycopg.Connection, job: Job) -> datetime | None:
        """Record the start when the job is due (under its lock); the database's time, or None when not due."""
        row = conn.execute(
            """
            INSERT INTO scheduler_jobs AS j (name, last_started_at, run_by) VALUES (%(name)s, clock_timestamp(), %(by)s)
            ON CONFLICT (name) DO UPDATE SET last_started_at = EXCLUDED.last_started_at, run_by = EXCLUDED.run_by
            WHERE j.last_started_at IS NULL OR j.last_started_at <= clock_timestamp() - %(interval)s
            RETURNING last_started_at
            """,
            {"name": job.name, "by": self.runner_id, "interval": job.interval},
        ).fetchone()
        return row[0] if row else None
