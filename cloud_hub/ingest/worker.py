"""One ingest worker process: its own MQTT consumer in the shared subscription, its own database pool, the same
processors as the hub (`cloud_hub.ingest.processors.build_processors`), and a small HTTP server for its /metrics and
/healthz (cloud_hub.ingest.health_server). Started by
`cloud_hub.ingest.supervisor`, one per `--workers`.

Each worker has a stable client id (`<base>-w<index>`), so a restarted worker resumes its persistent broker
session and gets back the messages it had not acked. SIGTERM / SIGINT stop it gracefully: intake closes, what
is queued is stored and acked, anything left stays unacked at the broker for the next consumer.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from types import FrameType

from cityops.logs import configure_logging
from cloud_hub.core.config import HubSettings, get_settings
from cloud_hub.ingest.service import IngestService, default_client_id

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 10.0
# A batch allocates ~10 container objects per event (parsed JSON, pydantic models, rows) that live until it
# commits. With CPython's default thresholds (700, 10, 10) a young collection runs every few dozen events and
# promotes the live batch, so the older generations fill and are rescanned over and over: measured ~25 % of
# validation time. Collecting every 50,000 allocations still bounds garbage cycles (a few MB) at a fraction of it.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """For a process that only ingests: freeze what start-up built (modules, rules, grids: never garbage, so full
    collections need not walk it) and collect far less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def worker_client_id(settings: HubSettings, index: int) -> str:
    """Stable per host and worker slot; fits MQTT's customary 64-character limit with the base shortened."""
    suffix = f"-w{index}"
    return default_client_id(settings)[: 64 - len(suffix)] + suffix


def run_worker(settings: HubSettings, index: int, stop: threading.Event) -> int:
    """Consume until `stop` is set. The schema must already be migrated (the supervisor does that once)."""
    # Imported here: they pull in the incident and dispatch stack, which the supervisor process does not need.
    from cloud_hub.app import wait_for_database
    from cloud_hub.dispatch.directory import GridDirectory
    from cloud_hub.ingest.processors import build_processors
    from cloud_hub.rules.loader import RulesStore
    from cloud_hub.store.capabilities import detect_capabilities
    from cloud_hub.store.db import create_pool

    wait_for_database(settings.database_url, timeout_s=float(settings.db_wait_s))
    # A connection per writer thread, one for the telemetry missing-data watch, one to spare for start-up queries.
    pool = create_pool(settings, min_size=1, max_size=int(settings.ingest_writers) + 2)
    try:
        pool.wait(timeout=30.0)
        rules = RulesStore.from_settings_dir(settings.rules_dir)
        with pool.connection() as conn:
            grids = GridDirectory.load(conn)
            capabilities = detect_capabilities(conn)
        wired = build_processors(settings, pool, grids, rules, capabilities)
        tune_gc()
        service = IngestService(
            settings,
            pool,
            processors=wired.event_processors,
            telemetry_processors=wired.telemetry_processors,
            client_id=worker_client_id(settings, index),
        )
        service.start()
        for job in wired.background_jobs:
            job.start()
        server = None
        if settings.ingest_metrics_port:  # /metrics and /healthz of this worker (its supervisor probes it)
            from cloud_hub.ingest.health_server import serve_health, worker_port

            port = worker_port(int(settings.ingest_metrics_port), index)
            server = serve_health(settings.http_host, port, lambda: (service.healthy(), service.stats()))
        log.info("ingest worker %d running", index)
        try:
            stop.wait()
        finally:
            if server is not None:
                server.stop()
            for job in reversed(wired.background_jobs):
                job.stop()
            service.stop(drain_timeout_s=DRAIN_TIMEOUT_S)
        log.info("ingest worker %d stopped: %s", index, service.stats())
    finally:
        pool.close()
    return 0


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """A supervisor killed with SIGKILL cannot stop its workers; they notice being re-parented and stop."""
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            log.warning("supervisor %d is gone; stopping", parent_pid)
            stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud_hub.ingest.worker", description=__doc__)
    parser.add_argument("--index", type=int, required=True, help="worker slot (0-based); part of the client id")
    parser.add_argument("--parent-pid", type=int, default=None, help="stop when this process (the supervisor) is gone")
    args = parser.parse_args(argv)
    if args.index < 0:
        parser.error(f"--index must be >= 0, got {args.index}")
    configure_logging(role=f"ingest-w{args.index}")  # the supervisor's format, from CITYOPS_LOG_FORMAT
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if args.parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, stop), name="parent-watch", daemon=True).start()
    return run_worker(get_settings(), args.index, stop)


if __name__ == "__main__":
    sys.exit(main())
