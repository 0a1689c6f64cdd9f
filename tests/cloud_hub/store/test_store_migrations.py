"""Migration runner: idempotent, ordered, capability variants, misnamed files refused, concurrent runners."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg
import pytest

from cloud_hub.store.capabilities import Capabilities
from cloud_hub.store.migrations import MigrationError, migrate
from cloud_hub.store.migrations.runner import discover
from cloud_hub.store.scratch import DEFAULT_ADMIN_URL, scratch_database

ADMIN_URL = os.environ.get("CITYOPS_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
CORE_TABLES = {"devices", "events", "telemetry", "health", "dead_letters", "device_seq", "seq_pending", "evidence",
               "cmd_results", "schema_migrations"}  # fmt: skip


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_migrate_twice_applies_once(database_url: str) -> None:
    # database_url is already migrated by the fixture: a second run finds nothing to do.
    report = migrate(database_url)
    assert report.applied == []
    assert "0001_core" in report.already_applied and report.changed == []
    assert tables(database_url) >= CORE_TABLES
    caps = report.capabilities
    if caps.timescaledb_version is None:
        assert "0001_core.hypertables" in report.skipped and not caps.hypertables
        assert "without TimescaleDB" in caps.describe()
    else:
        assert "0001_core.hypertables" in report.already_applied
        with psycopg.connect(database_url) as conn:
            hypertables = {
                r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
            }
        assert {"events", "telemetry", "health", "dead_letters"} <= hypertables


def write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql, encoding="utf-8")


def test_variants_follow_capabilities_and_order(tmp_path: Path) -> None:
    write(tmp_path, "0002_second.sql", "INSERT INTO trail VALUES ('second');")
    write(tmp_path, "0001_first.sql", "CREATE TABLE trail (step text); INSERT INTO trail VALUES ('first');")
    write(tmp_path, "0001_first.hypertables.sql", "INSERT INTO trail VALUES ('with-timescale');")
    write(tmp_path, "0001_first.no_hypertables.sql", "INSERT INTO trail VALUES ('without-timescale');")
    with scratch_database(ADMIN_URL, prefix="cityops_store") as url:
        report = migrate(url, tmp_path)
        with psycopg.connect(url) as conn:
            trail = [r[0] for r in conn.execute("SELECT step FROM trail")]
        has_ts = report.capabilities.hypertables
        variant = "with-timescale" if has_ts else "without-timescale"
        assert trail == ["first", variant, "second"]
        assert migrate(url, tmp_path).applied == []

        # An edited applied file is reported, not re-run.
        write(tmp_path, "0002_second.sql", "INSERT INTO trail VALUES ('edited');")
        again = migrate(url, tmp_path)
        assert again.applied == [] and again.changed == ["0002_second"]


def test_failed_migration_names_the_file_and_rolls_back(tmp_path: Path) -> None:
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok_table (id int);")
    write(tmp_path, "0002_broken.sql", "CREATE TABLE half_done (id int); SELECT no_such_function();")
    with scratch_database(ADMIN_URL, prefix="cityops_store") as url:
        with pytest.raises(MigrationError, match=r"0002_broken\.sql"):
            migrate(url, tmp_path)
        assert "ok_table" in tables(url) and "half_done" not in tables(url)
        with psycopg.connect(url) as conn:
            assert [r[0] for r in conn.execute("SELECT name FROM schema_migrations")] == ["0001_ok"]


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_x.unknowncap.sql", "0001_Upper.sql"])
def test_misnamed_files_are_refused(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match=name.replace(".", r"\.")):
        discover(tmp_path)


def test_concurrent_runners_apply_each_migration_once(tmp_path: Path) -> None:
    write(
        tmp_path, "0001_slow.sql", "CREATE TABLE counted (n int); SELECT pg_sleep(0.3); INSERT INTO counted VALUES (1);"
    )
    with scratch_database(ADMIN_URL, prefix="cityops_store") as url:
        reports, errors = [], []

        def run() -> None:
            try:
                reports.append(migrate(url, tmp_path))
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(len(r.applied) for r in reports) == [0, 0, 1]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM counted").fetchone()[0] == 1


def test_capability_description_names_the_edition() -> None:
    community = Capabilities("2.17.2", True, True, True, True, server_version="17.2", timescaledb_license="timescale")
    apache = Capabilities("2.17.2", True, False, False, False, server_version="17.2", timescaledb_license="apache")
    assert "Community" in community.describe() and "compression" in community.describe()
    assert "Apache" in apache.describe() and "compression" not in apache.describe()
