"""Throwaway databases for tests and CI: created on a server, dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(admin_url: str = DEFAULT_ADMIN_URL, prefix: str = "cityops_test") -> Iterator[str]:
    """Create `{prefix}_<random>` through `admin_url`, yield its URL, drop it (with its connections) afterwards."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def migrated_scratch_database(admin_url: str = DEFAULT_ADMIN_URL, prefix: str = "cityops_test") -> Iterator[str]:
    """`scratch_database` with the hub's migrations applied; a clear error when the server is unreachable."""
    from cloud_hub.store.migrations import migrate

    try:
        psycopg.connect(admin_url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        raise RuntimeError(f"PostgreSQL at {admin_url} is needed (set CITYOPS_TEST_DATABASE_URL): {exc}") from exc
    with scratch_database(admin_url, prefix) as url:
        migrate(url)
        yield url
