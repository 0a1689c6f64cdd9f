"""Device control tests: a throwaway migrated database per module, a hub app with the control routers, users of
every role, and an IngestService stand-in that records what would be published."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from control_testkit import ROLES, RecordingBrokerAdmin, RecordingIngest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from cloud_hub.api.routes import auth, device_control, devices, models
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.config import HubSettings


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> HubSettings:
    state = tmp_path_factory.mktemp("hub-state")
    return HubSettings(
        database_url=database_url,
        jwt_secret="test-secret-with-enough-length-000",
        evidence_dir=state / "evidence",
        public_url="https://hub.example",
        snapshot_keep=2,
        model_max_bytes=64 * 1024,
    )


@pytest.fixture(scope="module")
def app(settings: HubSettings) -> Iterator[FastAPI]:
    app = FastAPI()
    for module in (auth, devices, device_control, models):
        app.include_router(module.router)
    with ConnectionPool(settings.database_url, min_size=1, max_size=6) as pool:
        with pool.connection() as conn:
            for name, role in ROLES.items():
                ensure_user(conn, name, f"{name}-password", role)
        app.state.settings = settings
        app.state.pool = pool
        app.state.broker_admin = RecordingBrokerAdmin()
        app.state.ingest = RecordingIngest()
        yield app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def ingest(app: FastAPI) -> Iterator[RecordingIngest]:
    recorder = RecordingIngest()
    app.state.ingest = recorder
    yield recorder
    app.state.ingest = recorder
