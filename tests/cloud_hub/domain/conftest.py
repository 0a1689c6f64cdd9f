"""A throwaway PostgreSQL database per test module, migrated, for the domain's database and API tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from cloud_hub.store.migrations import migrate
from cloud_hub.store.scratch import scratch_database

ADMIN_URL = os.environ.get("CITYOPS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"these tests need PostgreSQL at CITYOPS_TEST_DATABASE_URL ({ADMIN_URL}): {exc}")
    with scratch_database(ADMIN_URL, prefix="cityops_domain") as url:
        migrate(url)
        yield url
