"""A migrated scratch database per test module with the demo district; the hub app over it with its own webhook
sender off (scheduler off), so each test runs the senders it needs against a real local HTTP receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings
from cloud_hub.seed.demo import seed_demo

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def database_url(database_url: str) -> str:
    """The module's scratch database, seeded with the demo district."""
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
    return database_url


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = HubSettings(
        database_url=database_url,
        ingest=False,
        scheduler=False,
        live=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-webhook-tests-0123456789abcdef"),
        admin_user="admin",
        admin_password=SecretStr("admin-test-pw"),
        rules_dir=REPO / "rules",
        evidence_dir=tmp_path_factory.mktemp("evidence"),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client
