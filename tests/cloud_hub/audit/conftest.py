"""A throwaway PostgreSQL database per test module, migrated (as the superuser: tests play the tamperer too), the
hub app over it when a test needs the API, and the `cityops` command line as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings

REPO = Path(__file__).resolve().parents[3]
ADMIN_PASSWORD = "admin-test-pw"


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
        jwt_secret=SecretStr("test-secret-for-audit-tests-0123456789abcdef"),
        admin_user="admin",
        admin_password=SecretStr(ADMIN_PASSWORD),
        rules_dir=REPO / "rules",
        evidence_dir=tmp_path_factory.mktemp("evidence"),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


Cityops = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cityops(database_url: str) -> Cityops:
    """Run `cityops <args>` as an operator would (a fresh interpreter), against this module's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env["CITYOPS_DATABASE_URL"] = database_url

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cityops.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=REPO,
        )

    return run
