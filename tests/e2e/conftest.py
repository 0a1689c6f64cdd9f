"""One whole local stack per database kind, started with `cityops stack up --json` and stopped with `stack down`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import cityops, json_of, stack_env


class Stack:
    def __init__(self, info: dict[str, Any], env: dict[str, str], state_dir: Path, database: str) -> None:
        self.info, self.env, self.state_dir, self.database = info, env, state_dir, database

    def provision(self, device_id: str, lon: float | None = None, lat: float | None = None) -> dict[str, Any]:
        args = ["device", "provision", "--id", device_id, "--kind", "edge", "--json"]
        if lon is not None and lat is not None:
            args += ["--lon", str(lon), "--lat", str(lat)]
        return json_of(cityops(args, self.env, timeout=60))


@pytest.fixture(scope="session", params=["timescaledb", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = request.param
    if database == "timescaledb" and os.geteuid() != 0:
        pytest.skip("TimescaleDB runs in a Debian 13 chroot, which needs root")
    state_dir = tmp_path_factory.mktemp(f"stack-{database}")
    env = stack_env(state_dir, database)
    info = json_of(cityops(["stack", "up", "--json"], env))
    try:
        yield Stack(info, env, state_dir, database)
    finally:
        down = cityops(["stack", "down", "--purge"], env, timeout=120)
        assert down.returncode == 0, down.stderr
