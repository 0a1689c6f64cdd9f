"""A throwaway, migrated PostgreSQL database per test module, the whole hub app over it (TestClient, ingest off,
demo seed), and a small city made through the real ingest path (`reads_world`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from reads_world import World, build_world

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> HubSettings:
    return HubSettings(
        database_url=database_url,
        ingest=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-reads-api-tests-0123456789"),
        admin_user="admin",
        admin_password=SecretStr("admin-test-pw"),
        rules_dir=REPO / "rules",
        evidence_dir=tmp_path_factory.mktemp("evidence"),
    )


@pytest.fixture(scope="module")
def client(settings: HubSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def world(client: TestClient, settings: HubSettings) -> World:
    """Built after the app started (migrated, demo seeded); logs every user in once."""
    return build_world(client, settings)
