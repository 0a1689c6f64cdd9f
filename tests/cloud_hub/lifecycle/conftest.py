"""A throwaway, migrated database per test module (server from CITYOPS_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cloud_hub.store.scratch import DEFAULT_ADMIN_URL, migrated_scratch_database

ADMIN_URL = os.environ.get("CITYOPS_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with migrated_scratch_database(ADMIN_URL, prefix="cityops_lifecycle") as url:
        yield url
