"""Reusable pytest fixtures for isolated local services (the lead wires them into session fixtures).

Each wraps a product function, so other tests need nothing from here but these fixture names:
`isolated_broker` (cloud_hub.stack.mosquitto.BrokerHandle) and `isolated_timescaledb` / `isolated_postgres`
(cloud_hub.stack.postgres_common.DatabaseHandle with .url, .superuser_url).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_hub.stack.database import start_isolated_database
from cloud_hub.stack.mosquitto import BrokerHandle, find_dynsec_plugin, start_isolated_broker
from cloud_hub.stack.paths import StackPaths
from cloud_hub.stack.postgres_common import DatabaseHandle
from cloud_hub.stack.settings import StackSettings
from cloud_hub.stack.timescaledb_chroot import can_build_rootfs, rootfs_ready


def broker_unavailable_reason() -> str | None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        return "mosquitto is not installed"
    try:
        find_dynsec_plugin()
    except RuntimeError as exc:
        return str(exc)
    return None


def timescaledb_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "TimescaleDB runs in a chroot, which needs root"
    rootfs = StackPaths.create(Path("."), StackSettings().cache_dir).rootfs_dir
    if not rootfs_ready(rootfs) and not can_build_rootfs():
        return f"no TimescaleDB root filesystem at {rootfs} and debootstrap is not available to build one"
    return None


@pytest.fixture
def isolated_broker(tmp_path: Path) -> Iterator[BrokerHandle]:
    reason = broker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    handle = start_isolated_broker(tmp_path / "broker-state")
    yield handle
    handle.stop()


@pytest.fixture
def isolated_timescaledb(tmp_path: Path) -> Iterator[DatabaseHandle]:
    reason = timescaledb_unavailable_reason()
    if reason:
        pytest.skip(reason)
    handle = start_isolated_database(tmp_path / "tsdb-state", "timescaledb")
    yield handle
    handle.stop(destroy=True)


@pytest.fixture
def isolated_postgres(tmp_path: Path) -> Iterator[DatabaseHandle]:
    handle = start_isolated_database(tmp_path / "pg-state", "postgres")
    yield handle
    handle.stop(destroy=True)
