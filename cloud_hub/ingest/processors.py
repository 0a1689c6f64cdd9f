"""The one place that decides what runs inside an ingest transaction, for every process that ingests: the hub
(`cloud_hub.app`) and the ingest worker processes (`cloud_hub.ingest.worker`). Both used to wire their own list,
and the workers silently lacked the telemetry rules; one factory keeps them identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from psycopg_pool import ConnectionPool

from cloud_hub.core.config import HubSettings
from cloud_hub.core.types import EventProcessor, TelemetryProcessor
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.rules.loader import RulesStore
from cloud_hub.store.capabilities import Capabilities


class BackgroundJob(Protocol):
    """A thread the ingesting process runs next to the consumer (started after it, stopped before it)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class IngestProcessors:
    event_processors: list[EventProcessor]
    telemetry_processors: list[TelemetryProcessor]
    background_jobs: list[BackgroundJob] = field(default_factory=list)


def build_processors(
    settings: HubSettings,
    pool: ConnectionPool,
    grids: GridDirectory,
    rules: RulesStore,
    capabilities: Capabilities | None,
) -> IngestProcessors:
    """Incidents (and work orders) from events, the rollup markers where the hub keeps the rollup itself, the
    telemetry rules through the same incident path, the telemetry missing-data watch (one replica at a time by
    advisory lock, so every ingesting process may run it) and the hot reload of the hub and telemetry rules."""
    # Imported here: the telemetry and lifecycle stacks are only needed by a process that ingests.
    from cloud_hub.incidents.processor import IncidentProcessor
    from cloud_hub.rules.watch import RulesWatcher
    from cloud_hub.scheduler.lifecycle import rollup_processors
    from cloud_hub.telemetry.rules import TelemetryRulesStore
    from cloud_hub.telemetry.watch import MissingDataWatch
    from cloud_hub.telemetry.wiring import build_telemetry_processor

    incidents = IncidentProcessor(grids, rules)
    telemetry_rules = TelemetryRulesStore.from_settings_dir(settings.rules_dir)
    telemetry = build_telemetry_processor(settings.rules_dir, incidents, rules, telemetry_rules)
    watch = MissingDataWatch(pool, telemetry, interval_s=float(settings.telemetry_sweep_s))
    # The telemetry file sits in the hub rules directory but has its own store: each reloads what it reads.
    reload = RulesWatcher(
        [(rules.directory, rules.reload), (telemetry_rules.path, telemetry_rules.reload)],
        interval_s=float(settings.rules_poll_s),
    )
    return IngestProcessors(
        event_processors=[incidents, *rollup_processors(capabilities)],
        telemetry_processors=[telemetry],
        background_jobs=[watch, reload],
    )
