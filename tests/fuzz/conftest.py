"""Fixtures for the fuzz tests: a migrated scratch database per module (as tests/cloud_hub/conftest.py makes them)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cloud_hub.store.scratch import DEFAULT_ADMIN_URL, migrated_scratch_database


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    admin_url = os.environ.get("CITYOPS_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    try:
        with migrated_scratch_database(admin_url, prefix="cityops_fuzz") as url:
            yield url
    except RuntimeError as exc:  # the server is unreachable: fail with the reason, never skip
        pytest.fail(str(exc))
