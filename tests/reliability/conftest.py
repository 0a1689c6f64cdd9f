"""One private ingest stack (database server, broker with dynamic security) per module and database kind, for the
reliability tests: each runs against TimescaleDB and against plain PostgreSQL, as the hub must work on both.

Private, not the suite's shared services: these tests kill hubs and restart the database and the broker.
`CITYOPS_TEST_DB` set to one kind runs them on that one only (`CITYOPS_TEST_DATABASE_KIND` only reports which kind
the suite's shared server is, so it does not narrow them). Faults on the edge's side, where the database kind is not
what is under test, take `one_stack`: one kind, to keep the suite's time down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import IngestStack


def _kinds() -> list[str]:
    forced = os.environ.get("CITYOPS_TEST_DB")
    return [forced] if forced and forced != "auto" else ["timescaledb", "postgres"]


@pytest.fixture(scope="module", params=_kinds())
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestStack]:
    kind = request.param
    if kind == "timescaledb" and os.geteuid() != 0:
        pytest.skip("TimescaleDB runs in a Debian 13 chroot, which needs root")
    stack = IngestStack(Path(tmp_path_factory.mktemp(f"reliability-{kind}")), kind)
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def one_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestStack]:
    """TimescaleDB as root, else plain PostgreSQL (`CITYOPS_TEST_DB` chooses)."""
    forced = os.environ.get("CITYOPS_TEST_DB")
    kind = forced if forced and forced != "auto" else ("timescaledb" if os.geteuid() == 0 else "postgres")
    stack = IngestStack(Path(tmp_path_factory.mktemp(f"reliability-one-{kind}")), kind)
    try:
        yield stack
    finally:
        stack.close()
