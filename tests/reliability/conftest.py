"""One private ingest stack (database server, broker with dynamic security) for the reliability tests.

Private, not the suite's shared services: these tests kill hubs and restart the database and the broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import IngestStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestStack]:
    kind = os.environ.get("CITYOPS_TEST_DATABASE_KIND") or os.environ.get("CITYOPS_TEST_DB", "auto")
    stack = IngestStack(Path(tmp_path_factory.mktemp("reliability")), kind)
    try:
        yield stack
    finally:
        stack.close()
