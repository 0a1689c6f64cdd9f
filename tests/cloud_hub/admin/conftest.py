"""A throwaway PostgreSQL database per test module, migrated, and the hub app on it (TestClient, ingest off, demo
seed on) with the hub rules copied to a temporary directory, so saving rules never touches the checkout."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings
from cloud_hub.seed.demo import DEMO_PASSWORD

REPO = Path(__file__).resolve().parents[3]
ADMIN_PASSWORD = "admin-test-pw"


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(REPO / "rules", target)
    return target


@pytest.fixture(scope="module")
def client(database_url: str, rules_dir: Path) -> Iterator[TestClient]:
    settings = HubSettings(
        database_url=database_url,
        ingest=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-admin-api-tests-0123456789"),
        admin_user="admin",
        admin_password=SecretStr(ADMIN_PASSWORD),
        rules_dir=rules_dir,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


Login = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def login(client: TestClient) -> Login:
    """Headers with a bearer token for `username` (demo password unless given); cached per user."""
    cache: dict[tuple[str, str], dict[str, str]] = {}

    def headers(username: str, password: str | None = None) -> dict[str, str]:
        password = password or (ADMIN_PASSWORD if username == "admin" else DEMO_PASSWORD)
        if (username, password) not in cache:
            response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
            assert response.status_code == 200, response.text
            cache[(username, password)] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return cache[(username, password)]

    return headers


@pytest.fixture(scope="module")
def admin(login: Login) -> dict[str, str]:
    return login("admin")
