"""The shared processor factory: the hub and the ingest worker processes run the same processors in the ingest
transaction (incidents, rollup markers where the hub keeps the rollup, telemetry rules) and the same watch."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from cloud_hub.core.config import HubSettings
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.ingest import worker
from cloud_hub.ingest.processors import build_processors
from cloud_hub.rules.loader import RulesStore
from cloud_hub.rules.watch import RulesWatcher
from cloud_hub.store.capabilities import PLAIN_POSTGRES, Capabilities
from cloud_hub.store.rollups import RollupInvalidator
from cloud_hub.telemetry.processor import TelemetryProcessor
from cloud_hub.telemetry.watch import MissingDataWatch

RULES = Path(__file__).resolve().parents[3] / "rules"
COMMUNITY = Capabilities("2.19.3", True, True, True, True, "15", "timescale")


def settings(database_url: str) -> HubSettings:
    return HubSettings(database_url=database_url, rules_dir=RULES, telemetry_sweep_s=7.0)


@pytest.mark.parametrize(("caps", "rollup"), [(PLAIN_POSTGRES, True), (None, True), (COMMUNITY, False)])
def test_factory_wires_incidents_rollups_telemetry_and_watch(
    database_url: str, caps: Capabilities | None, rollup: bool
) -> None:
    with psycopg.connect(database_url) as conn:
        grids = GridDirectory.load(conn)
    pool = ConnectionPool(database_url, min_size=0, max_size=1, open=False)  # never opened: nothing connects
    wired = build_processors(settings(database_url), pool, grids, RulesStore.from_settings_dir(RULES), caps)

    assert isinstance(wired.event_processors[0], IncidentProcessor)
    assert any(isinstance(p, RollupInvalidator) for p in wired.event_processors) is rollup
    assert [type(p) for p in wired.telemetry_processors] == [TelemetryProcessor]
    watch, reload = wired.background_jobs
    assert isinstance(watch, MissingDataWatch) and watch.interval_s == 7.0 and watch.pool is pool
    assert isinstance(reload, RulesWatcher)  # hub rules and the telemetry file, reloaded when edited
    assert [t.path.name for t in reload.targets] == ["hub", "telemetry.yaml"]


def test_worker_runs_the_same_processors_as_the_hub(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the worker processes used to ingest without the telemetry rules."""
    seen: dict[str, Any] = {}
    stop = threading.Event()

    class FakeService:
        def __init__(self, _settings: HubSettings, _pool: ConnectionPool, **kwargs: Any) -> None:
            seen.update(kwargs)

        def start(self) -> None:
            stop.set()  # the worker then stops at once

        def stop(self, drain_timeout_s: float) -> None:
            seen["stopped"] = True

        def stats(self) -> dict[str, Any]:
            return {}

    monkeypatch.setattr(worker, "IngestService", FakeService)
    assert worker.run_worker(settings(database_url), 3, stop) == 0
    assert isinstance(seen["processors"][0], IncidentProcessor)
    assert [type(p) for p in seen["telemetry_processors"]] == [TelemetryProcessor]
    assert seen["client_id"].endswith("-w3") and seen["stopped"]
