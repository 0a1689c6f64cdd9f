"""Storage lifecycle wiring for the hub's composition root: TimescaleDB policies from the settings, the scheduler
thread, and the ingest hook that keeps the hub-maintained events rollup incremental."""

from __future__ import annotations

import logging
from collections.abc import Callable

from cloud_hub.core.config import HubSettings
from cloud_hub.core.types import EventProcessor
from cloud_hub.evidence.factory import open_evidence_store
from cloud_hub.scheduler.jobs import build_jobs
from cloud_hub.scheduler.service import SchedulerService
from cloud_hub.store.capabilities import Capabilities
from cloud_hub.store.db import connect
from cloud_hub.store.policies import apply_policies
from cloud_hub.store.rollups import RollupInvalidator

log = logging.getLogger(__name__)


def rollup_processors(caps: Capabilities | None) -> list[EventProcessor]:
    """The ingest hook marking changed hours, only where the hub maintains the rollup (with a continuous
    aggregate TimescaleDB tracks changes itself, and nobody would consume the markers)."""
    return [] if caps is not None and caps.continuous_aggregates else [RollupInvalidator()]


def start_lifecycle(settings: HubSettings, caps: Capabilities) -> Callable[[], None]:
    """Apply the TimescaleDB policies, start the scheduler (unless disabled); returns the function that stops it."""
    with connect(settings.database_url) as conn:
        apply_policies(conn, settings, caps)
    if not settings.scheduler:
        log.info("scheduler disabled in this process (CITYOPS_SCHEDULER=false)")
        return lambda: None
    jobs = build_jobs(settings, caps, open_evidence_store(settings))
    service = SchedulerService(settings.database_url, jobs)
    service.start()
    log.info("scheduler started: %s", ", ".join(j.name for j in jobs))
    return service.stop
