"""GET /api/v1/stats/events-hourly and /sla-daily: commander/admin only, answers from the rollup views, clear
422s for bad parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lifecycle_rows import insert_events
from psycopg_pool import ConnectionPool

from cloud_hub.api.routes import stats
from cloud_hub.auth.security import create_access_token
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.config import HubSettings
from cloud_hub.store.capabilities import detect_capabilities
from cloud_hub.store.rollups import hour_of, refresh_events_hourly
from cloud_hub.store.sla_rollup import refresh_sla_daily

NOW = hour_of(datetime.now(UTC)) + timedelta(minutes=30)


@pytest.fixture(scope="module")
def settings(database_url: str) -> HubSettings:
    return HubSettings(database_url=database_url, jwt_secret="test-secret-with-enough-length-000")


@pytest.fixture(scope="module")
def client(settings: HubSettings) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(stats.router)
    with ConnectionPool(settings.database_url, min_size=1, max_size=2) as pool:
        with pool.connection() as conn:
            for name, role in (("boss", "commander"), ("adm", "admin"), ("off", "officer")):
                ensure_user(conn, name, f"{name}-password", role)
        app.state.settings = settings
        app.state.pool = pool
        with TestClient(app) as c:
            yield c


def auth(settings: HubSettings, user: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_access_token(settings, user, role)}"}


@pytest.fixture(scope="module")
def filled(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        insert_events(conn, [
            ("edge-1", NOW, "illegal_parking", None, "cam-1"),
            ("edge-1", NOW - timedelta(minutes=1), "illegal_parking", None, "cam-2"),
            ("edge-1", NOW - timedelta(hours=1), "hygiene", "no_mask", "cam-1"),
        ])  # fmt: skip
        if detect_capabilities(conn).continuous_aggregates:
            conn.execute("CALL refresh_continuous_aggregate('rollup_events_hourly_cagg', NULL, NULL)")
        else:
            refresh_events_hourly(conn, NOW)
        refresh_sla_daily(conn, NOW)


def test_roles(client: TestClient, settings: HubSettings, filled: None) -> None:
    assert client.get("/api/v1/stats/events-hourly").status_code == 401
    assert client.get("/api/v1/stats/sla-daily", headers=auth(settings, "off", "officer")).status_code == 403
    assert client.get("/api/v1/stats/sla-daily", headers=auth(settings, "adm", "admin")).status_code == 200


def test_events_hourly_grouping_and_filters(client: TestClient, settings: HubSettings, filled: None) -> None:
    headers = auth(settings, "boss", "commander")
    body = client.get("/api/v1/stats/events-hourly", headers=headers).json()
    hour = hour_of(NOW)
    got = [(datetime.fromisoformat(r["bucket"]), r["kind"], r["events"]) for r in body["data"]]
    assert got == [(hour - timedelta(hours=1), "hygiene", 1), (hour, "illegal_parking", 2)] and body["count"] == 2
    assert body["data"][0]["camera_id"] is None  # not grouped by camera

    by_camera = client.get("/api/v1/stats/events-hourly", headers=headers,
                           params={"by": ["camera_id"], "kind": "illegal_parking"}).json()  # fmt: skip
    assert sorted((r["camera_id"], r["events"]) for r in by_camera["data"]) == [("cam-1", 1), ("cam-2", 1)]
    assert by_camera["data"][0]["kind"] is None

    bad = client.get("/api/v1/stats/events-hourly", headers=headers, params={"by": "colour"})
    assert bad.status_code == 422
    backwards = client.get("/api/v1/stats/events-hourly", headers=headers,
                           params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"})  # fmt: skip
    assert backwards.status_code == 422 and "until must be after since" in backwards.text
    naive = client.get("/api/v1/stats/events-hourly", headers=headers, params={"since": "2026-01-02T00:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.text


def test_sla_daily_answers_the_view(client: TestClient, settings: HubSettings, filled: None) -> None:
    body = client.get("/api/v1/stats/sla-daily", headers=auth(settings, "boss", "commander")).json()
    assert body == {"data": [], "count": 0}  # no work orders in this database
    far = client.get("/api/v1/stats/sla-daily", headers=auth(settings, "boss", "commander"),
                     params={"since": "2020-01-01", "until": "2026-01-01"})  # fmt: skip
    assert far.status_code == 422 and "at most" in far.text
