"""A throwaway PostgreSQL database per test module, migrated, and the hub app on it (ingest and scheduler off)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings

REPO = Path(__file__).resolve().parents[3]
ADMIN_PASSWORD = "admin-test-pw"


@pytest.fixture(scope="module")
def settings(database_url: str) -> HubSettings:
    return HubSettings(
        database_url=database_url,
        ingest=False,
        scheduler=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-auth-tests-0123456789abcdef"),
        admin_user="admin",
        admin_password=SecretStr(ADMIN_PASSWORD),
        rules_dir=REPO / "rules",
    )


@pytest.fixture(scope="module")
def hub(settings: HubSettings) -> Iterator[FastAPI]:
    """The started app (lifespan entered once per module); tests talk to it through `client`."""
    app = create_app(settings)
    with TestClient(app):
        yield app


@pytest.fixture
def client(hub: FastAPI, database_url: str) -> TestClient:
    """A client with an empty cookie jar, from address 'testclient', with no failed logins counted yet."""
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM login_failures")
    return TestClient(hub)
