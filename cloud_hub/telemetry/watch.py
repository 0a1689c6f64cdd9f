"""The missing-data sweep: a small periodic thread. Every replica runs one; a transaction-scoped advisory lock lets
only one of them sweep at a time (the others skip that round), and SKIP LOCKED keeps it off series that ingest is
writing right now."""

from __future__ import annotations

import logging

import psycopg
from psycopg_pool import ConnectionPool

from cloud_hub.core.periodic import PeriodicThread
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


class MissingDataWatch(PeriodicThread):
    def __init__(self, pool: ConnectionPool, processor: TelemetryProcessor, interval_s: float = 30.0) -> None:
        super().__init__("telemetry-missing-data", interval_s, self.sweep)
        self.pool = pool
        self.processor = processor

    def sweep(self) -> None:
        with self.pool.connection() as conn:  # commits when the block ends
            opened = sweep_once(conn, self.processor)
        if opened:
            log.info("missing-data sweep opened %d incidents", opened)
