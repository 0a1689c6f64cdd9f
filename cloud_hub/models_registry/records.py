"""The registry of model files: which sha256 is which (name, version), who uploaded it, and the download URL a
`model_update` command carries.

A model's `name` is the detector name the edge agent runs (the agent refuses a `model_update` for another name);
`(name, version)` names exactly one file and a file has exactly one (name, version), so an upload either matches
what is registered (idempotent) or is refused with the conflicting registration named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from cloud_hub.core.errors import RuleViolation

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")


class ModelRegistryError(RuleViolation):
    """A model-registry request that breaks a rule."""


@dataclass(frozen=True, slots=True)
class ModelRecord:
    sha256: str
    name: str
    version: str
    bytes: int
    uploaded_by: str
    uploaded_at: datetime


_COLUMNS = "sha256, name, version, bytes, uploaded_by, uploaded_at"


def check_name_and_version(name: str | None, version: str | None) -> tuple[str, str]:
    """Both present and well-formed, else ModelRegistryError 422 naming the field."""
    if not name or not NAME_PATTERN.fullmatch(name):
        raise ModelRegistryError(422, f"name {name!r}: the detector name, 1-64 chars of [A-Za-z0-9_.-], is required")
    if not version or not VERSION_PATTERN.fullmatch(version):
        raise ModelRegistryError(422, f"version {version!r}: 1-64 chars of [A-Za-z0-9_.+-] is required")
    return name, version


def model_file_url(hub_url: str, sha256: str) -> str:
    """Where devices download the file: the hub's own origin, so the agent sends its device credentials."""
    return f"{hub_url.rstrip('/')}/api/v1/models/{sha256}/file"


def get_model(conn: psycopg.Connection, sha256: str) -> ModelRecord | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM model_files WHERE sha256 = %s", (sha256,)).fetchone()
    return ModelRecord(**row) if row else None


def list_models(
    conn: psycopg.Connection, name: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[ModelRecord], int]:
    """Registered model files, newest first, and how many there are (of that name, when given)."""
    where, params = ("WHERE name = %s", [name]) if name else ("", [])
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM model_files {where} ORDER BY uploaded_at DESC, sha256 LIMIT %s OFFSET %s",
            [*params, limit, offset],
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n FROM model_files {where}", params).fetchone()
    return [ModelRecord(**r) for r in rows], int(total["n"]) if total else 0


def register_model(
    conn: psycopg.Connection, sha256: str, name: str, version: str, size: int, uploaded_by: str
) -> tuple[bool, ModelRecord]:
    """Record an uploaded file; (created, record). The same file under the same name and version again is not an
    error (created False); any other clash is ModelRegistryError 409."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"INSERT INTO model_files (sha256, name, version, bytes, uploaded_by) VALUES (%s, %s, %s, %s, %s)"
            f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
            (sha256, name, version, size, uploaded_by),
        ).fetchone()
    if row is not None:
        return True, ModelRecord(**row)
    same = get_model(conn, sha256)
    if same is not None:
        if (same.name, same.version) == (name, version):
            return False, same
        raise ModelRegistryError(
            409, f"this file (sha256 {sha256}) is already registered as {same.name} version {same.version}"
        )
    other = conn.execute("SELECT sha256 FROM model_files WHERE name = %s AND version = %s", (name, version)).fetchone()
    held_by = other[0] if other else "a concurrent upload"
    raise ModelRegistryError(
        409, f"{name} version {version} is already registered with another file (sha256 {held_by}); pick a new version"
    )
