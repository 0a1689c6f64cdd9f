"""One PGlite + TimescaleDB (Community edition) server per test module; skipped with the reason when Node/npm or
the npm packages cannot be had (see pglite_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pglite_server import PgliteServer, PgliteUnavailable, start_server


@pytest.fixture(scope="module")
def pglite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgliteServer]:
    log_path = Path(tmp_path_factory.mktemp("pglite")) / "server.log"
    try:
        server = start_server(log_path)
    except PgliteUnavailable as exc:
        pytest.skip(f"TimescaleDB Community edition via PGlite not available: {exc}")
    try:
        yield server
    finally:
        server.stop()
