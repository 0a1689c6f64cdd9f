"""Applies `NNNN_name.sql` files once each, in order, under an advisory lock; capability variants by file name.

`NNNN_name.sql` always runs. `NNNN_name.<capability>.sql` runs right after it only when the database has that
capability (`hypertables`, `compression`, `continuous_aggregates`, `retention_jobs`; `timescaledb` means
`hypertables`), and `NNNN_name.no_<capability>.sql` only when it lacks it. Each file is one transaction and is
recorded under its stem in `schema_migrations`; a variant that did not apply is tried again on the next run, so a
database that gains TimescaleDB later gets its hypertables then.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from cloud_hub.store.capabilities import Capabilities, detect_capabilities, timescaledb_loadable
from cloud_hub.store.db import connect

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
# Any fixed 64-bit number; every hub replica uses the same one so only one migrates at a time.
ADVISORY_LOCK_KEY = 0x6369_7479_6F70_73
FILE_PATTERN = re.compile(r"^(?P<base>\d{4}_[a-z0-9_]+)(?:\.(?P<tag>[a-z_]+))?\.sql$")
CAPABILITY_TAGS = ("hypertables", "compression", "continuous_aggregates", "retention_jobs")
TAG_ALIASES = {"timescaledb": "hypertables"}


class MigrationError(RuntimeError):
    """A migration file is misnamed, or its SQL failed (the message names the file)."""


@dataclass(frozen=True, slots=True)
class MigrationFile:
    stem: str
    base: str
    capability: str | None
    wanted: bool  # True: runs when the capability is there; False: runs when it is not
    path: Path

    def applies_to(self, caps: Capabilities) -> bool:
        return self.capability is None or bool(getattr(caps, self.capability)) == self.wanted


@dataclass(slots=True)
class MigrationReport:
    applied: list[str]
    capabilities: Capabilities
    already_applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "applied": self.applied,
            "already_applied": self.already_applied,
            "skipped": self.skipped,
            "changed_since_applied": self.changed,
            "capabilities": self.capabilities.as_dict(),
            "description": self.capabilities.describe(),
        }


def discover(directory: Path = MIGRATIONS_DIR) -> list[MigrationFile]:
    """Migration files in apply order: by base name, the base file before its variants."""
    files = []
    for path in directory.glob("*.sql"):
        match = FILE_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration file names must look like 0003_name.sql or 0003_name.<tag>.sql")
        tag = match["tag"]
        capability, wanted = None, True
        if tag is not None:
            wanted = not tag.startswith("no_")
            capability = TAG_ALIASES.get(tag.removeprefix("no_"), tag.removeprefix("no_"))
            if capability not in CAPABILITY_TAGS:
                raise MigrationError(
                    f"{path}: unknown tag {tag!r}; use one of {', '.join(CAPABILITY_TAGS)} (or no_<tag>, timescaledb)"
                )
        files.append(MigrationFile(path.name.removesuffix(".sql"), match["base"], capability, wanted, path))
    files.sort(key=lambda f: (f.base, f.capability is not None, f.stem))
    return files


def _ensure_timescaledb(conn: psycopg.Connection) -> None:
    if not timescaledb_loadable(conn):
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:  # e.g. not a superuser: run as plain PostgreSQL rather than not at all
        log.warning("TimescaleDB is available but CREATE EXTENSION failed (%s); using plain PostgreSQL", exc)


def apply_migrations(conn: psycopg.Connection, files: list[MigrationFile]) -> MigrationReport:
    """Run on an autocommit connection; holds a session advisory lock for the whole run."""
    conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        _ensure_timescaledb(conn)
        caps = detect_capabilities(conn)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = dict(conn.execute("SELECT name, checksum FROM schema_migrations").fetchall())
        report = MigrationReport(applied=[], capabilities=caps)
        for migration in files:
            sql = migration.path.read_text(encoding="utf-8")
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if migration.stem in done:
                report.already_applied.append(migration.stem)
                if done[migration.stem] != checksum:
                    log.warning("migration %s changed after it was applied; edits need a new migration", migration.stem)
                    report.changed.append(migration.stem)
                continue
            if not migration.applies_to(caps):
                report.skipped.append(migration.stem)
                continue
            try:
                with conn.transaction():
                    conn.execute(sql)  # no parameters: psycopg sends it as one multi-statement simple query
                    conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)", (migration.stem, checksum)
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {migration.path.name} failed: {exc}") from exc
            log.info("applied migration %s", migration.stem)
            report.applied.append(migration.stem)
        return report
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def migrate(database_url: str, directory: Path = MIGRATIONS_DIR) -> MigrationReport:
    """Apply pending migrations (idempotent; safe when several hub replicas start together)."""
    files = discover(directory)
    with connect(database_url, autocommit=True) as conn:
        return apply_migrations(conn, files)


def migrate_command(args: argparse.Namespace) -> int:
    """`cityops db migrate [--database-url URL] [--json]`."""
    url = args.database_url
    if not url:
        from cloud_hub.core.config import get_settings

        url = get_settings().database_url
    try:
        report = migrate(url)
    except (MigrationError, psycopg.OperationalError) as exc:
        print(f"cityops db migrate: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    for name in report.applied:
        print(f"applied  {name}")
    for name in report.skipped:
        print(f"skipped  {name} (needs a capability this server lacks)")
    for name in report.changed:
        print(f"warning  {name} was edited after it was applied")
    if not report.applied:
        print(f"up to date ({len(report.already_applied)} migrations applied before)")
    print(report.capabilities.describe())
    return 0
