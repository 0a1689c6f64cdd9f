"""What the database server can do: plain PostgreSQL, TimescaleDB Apache edition, or TimescaleDB Community.

Hypertables are in both TimescaleDB editions; compression, continuous aggregates and retention jobs only in the
Community (`timescale` licence) edition. Everything else in the schema is plain PostgreSQL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class Capabilities:
    timescaledb_version: str | None
    hypertables: bool
    continuous_aggregates: bool
    compression: bool
    retention_jobs: bool
    server_version: str = ""
    timescaledb_license: str | None = None

    def describe(self) -> str:
        if self.timescaledb_version is None:
            return f"PostgreSQL {self.server_version} without TimescaleDB: plain tables, no hypertables"
        features = [
            name
            for name, on in (
                ("hypertables", self.hypertables),
                ("compression", self.compression),
                ("continuous aggregates", self.continuous_aggregates),
                ("retention jobs", self.retention_jobs),
            )
            if on
        ]
        edition = {"timescale": "Community", "apache": "Apache"}.get(self.timescaledb_license or "", "unknown")
        return (
            f"PostgreSQL {self.server_version} with TimescaleDB {self.timescaledb_version} ({edition} edition): "
            f"{', '.join(features) or 'no features usable'}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PLAIN_POSTGRES = Capabilities(None, False, False, False, False)


def timescaledb_loadable(conn: psycopg.Connection) -> bool:
    """The extension is installed in this database, or it is available and preloaded (CREATE EXTENSION works)."""
    row = conn.execute(
        "SELECT installed_version IS NOT NULL FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None or row[0]:
        return bool(row)
    try:
        with conn.transaction():  # a savepoint inside a caller's transaction: the refusal must not abort it
            preload = conn.execute("SELECT current_setting('shared_preload_libraries', true)").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        # A role without pg_read_all_settings (the hub's own role) could not CREATE EXTENSION anyway.
        return False
    return bool(preload and "timescaledb" in (preload[0] or ""))


def detect_capabilities(conn: psycopg.Connection) -> Capabilities:
    """Read what this database offers now (call after `CREATE EXTENSION` to see the installed version)."""
    server_version = str(conn.execute("SHOW server_version").fetchone()[0]).split(" ")[0]
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if row is None:
        return Capabilities(None, False, False, False, False, server_version=server_version)
    license_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    license_name = license_row[0] if license_row else None
    community = license_name == "timescale"
    return Capabilities(
        timescaledb_version=str(row[0]),
        hypertables=True,
        continuous_aggregates=community,
        compression=community,
        retention_jobs=community,
        server_version=server_version,
        timescaledb_license=license_name,
    )
