"""Fixtures shared by the hub's tests: one migrated scratch database per test module, on the server named by
CITYOPS_TEST_DATABASE_URL (read when the fixture runs), dropped afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_hub.store.scratch import DEFAULT_ADMIN_URL, migrated_scratch_database


@pytest.fixture(scope="module")
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database of its own for the module, named after its test folder (cityops_<folder>_<random>)."""
    admin_url = os.environ.get("CITYOPS_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    folder = Path(str(request.module.__file__)).parent.name
    try:
        with migrated_scratch_database(admin_url, prefix=f"cityops_{folder}") as url:
            yield url
    except RuntimeError as exc:  # the server is unreachable: fail with the reason, never skip
        pytest.fail(str(exc))
