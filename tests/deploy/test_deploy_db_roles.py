"""The hub runs on its own database role, not the superuser: deploy/cloud/db-init/05-hub-role.sql and
10-grafana-role.sql on an empty database, as the TimescaleDB image runs them, then the hub's migrations, start-up,
API, policies and every scheduled job as cityops_hub. The role can do all of that and nothing a superuser can."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings
from cloud_hub.evidence.store import FilesystemEvidenceStore
from cloud_hub.scheduler.jobs import build_jobs
from cloud_hub.store.migrations import migrate
from cloud_hub.store.policies import apply_policies
from cloud_hub.store.scratch import DEFAULT_ADMIN_URL, scratch_database
from tests.deploy.db_init import GRAFANA_ROLE_SCRIPT, HUB_ROLE_SCRIPT, run_init_script

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "roles-admin-pw"


@dataclass(frozen=True, slots=True)
class Roles:
    admin_url: str  # the superuser, as the init files run
    hub_url: str  # how the hub connects
    reader_url: str  # how Grafana connects
    hub: str
    reader: str


def _as(url: str, user: str, password: str) -> str:
    params = conninfo_to_dict(url)
    params.update(user=user, password=password)
    return make_conninfo(**params)


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Roles]:
    admin_url = os.environ.get("CITYOPS_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    token = secrets.token_hex(4)
    hub, reader = f"cityops_hub_{token}", f"grafana_reader_{token}"
    names = {"cityops_hub": hub, "grafana_reader": reader}
    hub_pw, reader_pw = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    passwords = {"HUB_DB_PASSWORD": hub_pw, "GRAFANA_DB_PASSWORD": reader_pw}
    try:
        with scratch_database(admin_url, prefix="cityops_roles") as url:
            for script in (HUB_ROLE_SCRIPT, GRAFANA_ROLE_SCRIPT):
                result = run_init_script(url, script, names, passwords)
                assert result.returncode == 0, f"{script.name}: {result.stderr}"
            yield Roles(url, _as(url, hub, hub_pw), _as(url, reader, reader_pw), hub, reader)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for role in (reader, hub):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def settings(roles: Roles, tmp_path_factory: pytest.TempPathFactory) -> HubSettings:
    return HubSettings(
        database_url=roles.hub_url,
        ingest=False,
        scheduler=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-role-tests-0123456789abcdef"),
        admin_user="admin",
        admin_password=SecretStr(ADMIN_PASSWORD),
        rules_dir=REPO / "rules",
        evidence_dir=tmp_path_factory.mktemp("evidence"),
    )


def test_the_hub_migrates_starts_and_serves_as_its_own_role(roles: Roles, settings: HubSettings) -> None:
    report = migrate(roles.hub_url)
    assert report.applied, "the migrations ran as the hub's role"
    with TestClient(create_app(settings)) as client:
        login = client.post("/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for path in ("/api/v1/incidents", "/api/v1/work-orders", "/api/v1/devices", "/api/v1/admin/users"):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, f"{path}: {answer.text}"
        box = {"device_id": "edge-roles-1", "kind": "edge", "lon": 116.4, "lat": 39.9}
        created = client.post("/api/v1/devices", headers=headers, json=box)
        assert created.status_code in (200, 201), created.text
    with psycopg.connect(roles.hub_url, autocommit=True) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'work_orders'").fetchone()
        assert owner == (roles.hub,)
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'login'").fetchone()[0] >= 1


def test_policies_and_every_scheduled_job_run_as_the_hub_role(roles: Roles, settings: HubSettings) -> None:
    report = migrate(roles.hub_url)
    now = datetime.now(UTC)
    with psycopg.connect(roles.hub_url, autocommit=True) as conn:
        apply_policies(conn, settings, report.capabilities)
        jobs = build_jobs(settings, report.capabilities, FilesystemEvidenceStore(settings.evidence_dir))
        assert {"retention", "sla_escalation", "rollup_sla_daily"} <= {job.name for job in jobs}
        for job in jobs:
            job.run(conn, now)  # raises on a missing privilege (drop_chunks, refreshes, deletes)


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE ROLE cityops_roles_intruder",
        "CREATE DATABASE cityops_roles_intruder",
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "SELECT pg_read_file('/etc/hostname')",
        "ALTER SYSTEM SET log_statement = 'none'",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ],
)
def test_the_hub_role_cannot_do_what_a_superuser_can(roles: Roles, settings: HubSettings, statement: str) -> None:
    migrate(roles.hub_url)
    with psycopg.connect(roles.hub_url, autocommit=True) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        with pytest.raises(psycopg.Error):
            conn.execute(statement)


def test_grafana_reads_the_hub_tables_but_not_their_credentials(roles: Roles, settings: HubSettings) -> None:
    migrate(roles.hub_url)
    with psycopg.connect(roles.reader_url, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM incidents").fetchone()
        conn.execute("SELECT username, role FROM users").fetchall()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT password_hash FROM users")
        with pytest.raises(psycopg.Error):
            conn.execute("INSERT INTO districts (name) VALUES ('x')")
