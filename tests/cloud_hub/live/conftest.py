"""A migrated scratch database per test module, seeded with the demo district, for the live channel's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from cloud_hub.seed.demo import seed_demo
from cloud_hub.store.scratch import migrated_scratch_database

ADMIN_URL = os.environ.get("CITYOPS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with migrated_scratch_database(ADMIN_URL, prefix="cityops_live") as url:
        with psycopg.connect(url) as conn:
            seed_demo(conn)
        yield url
