"""Real database servers of the stack: TimescaleDB in its chroot, and the plain PostgreSQL fallback."""

from __future__ import annotations

import os

import psycopg
import pytest
from stack_fixtures import isolated_postgres, isolated_timescaledb  # noqa: F401 (fixtures)

from cloud_hub.stack.postgres_common import DatabaseHandle
from cloud_hub.stack.timescaledb_chroot import running_instances

pytestmark = pytest.mark.integration


def test_timescaledb_server_loads_the_extension(isolated_timescaledb: DatabaseHandle) -> None:  # noqa: F811
    handle = isolated_timescaledb
    assert handle.kind == "timescaledb"
    assert handle.timescaledb_version
    with psycopg.connect(handle.url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("cityops",)
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        assert row == (handle.timescaledb_version,)
        # The app role (not a superuser) can use the extension: a hypertable, as the migrations will make.
        conn.execute("CREATE TABLE probe (ts timestamptz NOT NULL, v double precision)")
        conn.execute("SELECT create_hypertable('probe', 'ts')")
        assert conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone() == (1,)
    with psycopg.connect(handle.superuser_url, autocommit=True) as conn:
        assert conn.execute("SHOW timescaledb.telemetry_level").fetchone() == ("off",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    assert handle.pid in running_instances(handle.data_dir.parents[4])


def test_stopping_with_destroy_removes_the_instance(tmp_path_factory: pytest.TempPathFactory) -> None:
    from stack_fixtures import timescaledb_unavailable_reason

    from cloud_hub.stack.database import start_isolated_database

    reason = timescaledb_unavailable_reason()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("destroy-state")
    handle = start_isolated_database(state, "timescaledb")
    again = start_isolated_database(state, "timescaledb")  # idempotent: the running server is reported
    assert (again.started, again.pid, again.port) == (False, handle.pid, handle.port)
    handle.stop(destroy=True)
    assert not handle.data_dir.exists()
    assert handle.pid not in running_instances(handle.data_dir.parents[4])


@pytest.mark.skipif(os.geteuid() == 0 and not os.path.exists("/usr/sbin/runuser"), reason="needs runuser as root")
def test_plain_postgres_fallback(isolated_postgres: DatabaseHandle) -> None:  # noqa: F811
    assert isolated_postgres.kind == "postgres"
    assert isolated_postgres.timescaledb_version is None
    with psycopg.connect(isolated_postgres.url) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("cityops", "cityops")
        conn.execute("CREATE TABLE probe (id int)")
