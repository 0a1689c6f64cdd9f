"""The live channel's tests run on a database seeded with the demo district (the module's scratch database)."""

from __future__ import annotations

import psycopg
import pytest

from cloud_hub.seed.demo import seed_demo


@pytest.fixture(scope="module")
def database_url(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
    return database_url
