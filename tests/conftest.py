"""Session-wide services for the whole suite: a database server and a broker of the suite's own.

Tests read `CITYOPS_TEST_DATABASE_URL` (a superuser URL; modules create throwaway databases on it) and
`CITYOPS_TEST_MQTT_URL` (the hub identity on a broker with dynamic security). When they are not set, this file
starts both on free ports before collection and stops them at the end, so the suite never depends on services
someone started by hand. The database is TimescaleDB where it can be had (root, Debian 13 chroot), otherwise plain
PostgreSQL; `CITYOPS_TEST_DB=postgres|timescaledb` forces one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

_started: list[Any] = []
_state_root: Path | None = None


def _endpoint_url(endpoint: Any) -> str:
    from urllib.parse import quote

    user, password = quote(endpoint.username, safe=""), quote(endpoint.password, safe="")
    return f"mqtt://{user}:{password}@{endpoint.host}:{endpoint.port}"


def pytest_configure(config: pytest.Config) -> None:
    global _state_root
    if os.environ.get("CITYOPS_TEST_DATABASE_URL") and os.environ.get("CITYOPS_TEST_MQTT_URL"):
        return
    # Only the hub side can start services; an edge-only install runs the edge tests alone.
    try:
        from cloud_hub.stack.database import start_isolated_database
        from cloud_hub.stack.mosquitto import start_isolated_broker
    except ImportError:
        return
    _state_root = Path(tempfile.mkdtemp(prefix="cityops-tests-"))
    if not os.environ.get("CITYOPS_TEST_DATABASE_URL"):
        kind = os.environ.get("CITYOPS_TEST_DB", "auto")
        database = start_isolated_database(_state_root / "db", kind)  # type: ignore[arg-type]
        _started.append(database)
        os.environ["CITYOPS_TEST_DATABASE_URL"] = database.superuser_url
        os.environ["CITYOPS_TEST_DATABASE_KIND"] = database.kind
    if not os.environ.get("CITYOPS_TEST_MQTT_URL"):
        broker = start_isolated_broker(_state_root / "broker")
        _started.append(broker)
        os.environ["CITYOPS_TEST_MQTT_URL"] = _endpoint_url(broker.hub_endpoint)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"cityops database: {os.environ.get('CITYOPS_TEST_DATABASE_KIND', 'given')} "
        f"{os.environ.get('CITYOPS_TEST_DATABASE_URL', '-')}",
        f"cityops broker: {os.environ.get('CITYOPS_TEST_MQTT_URL', '-').split('@')[-1]}",
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    while _started:
        handle = _started.pop()
        try:
            handle.stop(destroy=True)
        except TypeError:
            handle.stop()
    if _state_root is not None:
        shutil.rmtree(_state_root, ignore_errors=True)
