"""Building the telemetry processor for a process that runs ingest (the hub, or an ingest worker process)."""

from __future__ import annotations

from pathlib import Path

from cloud_hub.core.types import EventProcessor
from cloud_hub.rules.loader import RulesStore
from cloud_hub.telemetry.processor import TelemetryProcessor
from cloud_hub.telemetry.rules import TelemetryRulesStore


def build_telemetry_processor(
    rules_dir: Path, incidents: EventProcessor, hub_rules: RulesStore, store: TelemetryRulesStore | None = None
) -> TelemetryProcessor:
    """The processor for `IngestService(..., telemetry_processors=[...])`: rules/hub/telemetry.yaml from the same
    rules directory as the other hub rules (or `store`, when the caller also reloads it), actions through
    `incidents` (the process's IncidentProcessor)."""
    return TelemetryProcessor(store or TelemetryRulesStore.from_settings_dir(rules_dir), incidents, hub_rules)
