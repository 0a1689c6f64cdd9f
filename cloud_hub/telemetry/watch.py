"""The missing-data sweep: a small periodic thread. Every replica runs one; a transaction-scoped advisory lock lets
only one of them sweep at a time (the others skip that round), and SKIP LOCKED keeps it off series that ingest is
writing right now."""

from __future__ import annotations

import logging
import threading

import psycopg
from psycopg_pool import ConnectionPool

from cloud_hub.telemetry.processor import TelemetryProcessor

log = logging.getLogger(__name__)

# Any fixed 64-bit number, the same on every replica ("telemetry missing-data sweep").
SWEEP_LOCK_KEY = 0x7465_6C65_6D69_7373


def sweep_once(conn: psycopg.Connection, processor: TelemetryProcessor) -> int | None:
    """One sweep in the caller's transaction; None when another replica is sweeping right now."""
    locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (SWEEP_LOCK_KEY,)).fetchone()
    if not locked or not locked[0]:
        return None
    return processor.sweep_missing(conn)


class MissingDataWatch:
    def __init__(self, pool: ConnectionPool, processor: TelemetryProcessor, interval_s: float = 30.0) -> None:
        if interval_s <= 0:
            raise ValueError(f"missing-data sweep interval must be positive, got {interval_s}")
        self.pool = pool
        self.processor = processor
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("MissingDataWatch already started")
        self._thread = threading.Thread(target=self._run, name="telemetry-missing-data", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                with self.pool.connection() as conn:  # commits when the block ends
                    opened = sweep_once(conn, self.processor)
                if opened:
                    log.info("missing-data sweep opened %d incidents", opened)
            except Exception:  # the next round tries again; a database outage must not end the thread
                log.exception("missing-data sweep failed; retrying in %.0f s", self.interval_s)
