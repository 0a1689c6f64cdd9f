"""Connections to the hub's PostgreSQL / TimescaleDB."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from cloud_hub.core.config import HubSettings

APPLICATION_NAME = "cityops-hub"


def connect(
    url: str, *, autocommit: bool = False, connect_timeout_s: int = 10, application_name: str = APPLICATION_NAME
) -> psycopg.Connection:
    """One connection outside the pool (migrations, CLI tools, the live relay)."""
    return psycopg.connect(
        url, autocommit=autocommit, connect_timeout=connect_timeout_s, application_name=application_name
    )


def create_pool(settings: HubSettings, *, min_size: int | None = None, max_size: int | None = None) -> ConnectionPool:
    """An opened pool whose connections have autocommit off: every `with pool.connection() as conn:` block is one
    transaction, committed when the block ends and rolled back on an exception.

    `check` makes the pool test a connection before lending it, so a database restart costs one failed
    attempt per stale connection instead of errors surfacing in requests.
    """
    pool = ConnectionPool(
        settings.database_url,
        min_size=min_size if min_size is not None else int(settings.db_pool_min),
        max_size=max_size if max_size is not None else int(settings.db_pool_max),
        kwargs={"autocommit": False, "application_name": APPLICATION_NAME, "connect_timeout": 10},
        check=ConnectionPool.check_connection,
        name="cityops-hub",
        open=False,
    )
    # wait=False: the hub starts even while the database is still coming up; borrowers wait (timeout) instead.
    pool.open(wait=False)
    return pool
