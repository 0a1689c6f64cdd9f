"""A migrated scratch database per test module with the demo district, and the hub app over it (ingest, scheduler
and live relay off: nothing moves the work orders but the tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def evidence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("evidence")


@pytest.fixture(scope="module")
def client(database_url: str, evidence_dir: Path) -> Iterator[TestClient]:
    settings = HubSettings(
        database_url=database_url,
        ingest=False,
        scheduler=False,
        live=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-citizen-report-tests-0123456789"),
        admin_user="admin",
        admin_password=SecretStr("admin-test-pw"),
        rules_dir=REPO / "rules",
        evidence_dir=evidence_dir,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client
