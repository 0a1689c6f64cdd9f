"""The scheduler thread of one hub replica: every tick, run the due jobs on its own database connection."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import psycopg

from cloud_hub.scheduler.runner import Job, JobOutcome, JobRunner
from cloud_hub.store.db import connect

log = logging.getLogger(__name__)


class SchedulerService:
    """`start()` a daemon thread, `stop()` it (waits for the job in progress). Database outages are logged and
    retried on the next tick; a job's own failure is recorded in `scheduler_jobs` by the runner."""

    def __init__(self, database_url: str, jobs: Sequence[Job], tick_s: float = 5.0, runner_id: str | None = None):
        if tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.database_url = database_url
        self.runner = JobRunner(jobs, runner_id)
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("scheduler already started")
        self._thread = threading.Thread(target=self._loop, name="cityops-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def tick(self) -> list[JobOutcome]:
        """One round: run every due job (reconnecting first when needed)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self.database_url, autocommit=True)
        return self.runner.run_due(self._conn)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except psycopg.Error as exc:
                log.warning("scheduler: database unavailable (%s); retrying in %.0f s", str(exc).strip(), self.tick_s)
                self._close()
            self._stop.wait(self.tick_s)
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
