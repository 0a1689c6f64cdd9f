"""Remote control of devices, data access and rules: audited commands, versioned desired configurations and the
camera snapshots devices upload. HTTP lives in `cloud_hub.api.routes.device_control`; publishing in IngestService.

Commands are written (and committed) before they are published and completed with the cmd_id afterwards, so the
audit trail names who asked for what even when the publish failed. Their outcome is the device's `cmd_result`,
which ingest stores in `cmd_results` keyed by (device_id, cmd_id): a device can only answer its own commands.

Desired configurations are append-only rows, one per version; the newest is what the device's retained `config`
topic carries. A per-device advisory lock held from the version's insert until its publish keeps two concurrent
updates from publishing out of order (the retained message is then always the newest row).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from cloud_hub.core.errors import RuleViolation
from cloud_hub.evidence.store import EvidenceStore

log = logging.getLogger(__name__)

JPEG_MAGIC = b"\xff\xd8\xff"
SNAPSHOT_CONTENT_TYPE = "image/jpeg"
SNAPSHOT_COMMANDS = ("snapshot", "probe")  # commands a device answers with a picture (probe: a camera to add)
_CONFIG_LOCK_CLASS = 0x0C0F  # advisory lock namespace of "desired config of one device" (second key: device)

CommandStatus = Literal["unsent", "pending", "ok", "failed"]


class ControlError(RuleViolation):
    """A device-control request that breaks a rule."""


# ---- commands ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandRecord:
    id: int
    device_id: str
    cmd_id: str | None
    name: str
    args: dict[str, Any]
    actor: str
    role: str
    requested_at: datetime
    sent_at: datetime | None
    send_error: str | None
    ok: bool | None
    detail: str | None
    result_at: datetime | None

    @property
    def status(self) -> CommandStatus:
        if self.cmd_id is None:
            return "unsent"
        if self.ok is None:
            return "pending"
        return "ok" if self.ok else "failed"


_COMMAND_SELECT = """
SELECT c.id, c.device_id, c.cmd_id, c.name, c.args, c.actor, c.role, c.requested_at, c.sent_at, c.send_error,
       r.ok, r.detail, r.received_at AS result_at
FROM device_commands c
LEFT JOIN cmd_results r ON r.device_id = c.device_id AND r.cmd_id = c.cmd_id
"""


def record_command_request(
    conn: psycopg.Connection, device_id: str, name: str, args: dict[str, Any], actor: str, role: str
) -> int:
    """The audit row of a command about to be published; returns its id. The caller commits before publishing."""
    row = conn.execute(
        "INSERT INTO device_commands (device_id, name, args, actor, role) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (device_id, name, Jsonb(args), actor, role),
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_command_sent(conn: psycopg.Connection, request_id: int, cmd_id: str) -> None:
    conn.execute("UPDATE device_commands SET cmd_id = %s, sent_at = now() WHERE id = %s", (cmd_id, request_id))


def record_command_failed(conn: psycopg.Connection, request_id: int, error: str) -> None:
    conn.execute("UPDATE device_commands SET send_error = %s WHERE id = %s", (error[:1000], request_id))


def get_command(conn: psycopg.Connection, device_id: str, cmd_id: str) -> CommandRecord | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_COMMAND_SELECT + " WHERE c.device_id = %s AND c.cmd_id = %s", (device_id, cmd_id)).fetchone()
    return CommandRecord(**row) if row else None


def list_commands(
    conn: psycopg.Connection, device_id: str, limit: int = 50, offset: int = 0
) -> tuple[list[CommandRecord], int]:
    """The device's commands, newest first, and how many it has."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _COMMAND_SELECT + " WHERE c.device_id = %s ORDER BY c.id DESC LIMIT %s OFFSET %s",
            (device_id, limit, offset),
        ).fetchall()
        total = cur.execute("SELECT count(*) AS n FROM device_commands WHERE device_id = %s", (device_id,)).fetchone()
    return [CommandRecord(**r) for r in rows], int(total["n"]) if total else 0


# ---- desired configuration --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DesiredConfig:
    device_id: str
    version: int
    config: dict[str, Any]
    actor: str
    role: str
    created_at: datetime


def next_config_version(current: int | None, applied: int | None, expected: int | None) -> int:
    """The version a new desired configuration gets; ControlError 409 when `expected` is not the current one.

    Higher than both the stored version and the one the device reports applied: a device that once ran a higher
    version (a hub database restored from backup) must never be sent a version number it thinks it already has."""
    stored = current or 0
    if expected is not None and expected != stored:
        raise ControlError(
            409,
            f"the desired configuration is at version {stored}, not {expected}: "
            "GET it again, merge your change and PUT with the new version",
        )
    return max(stored, applied or 0) + 1


@contextmanager
def device_config_lock(conn: psycopg.Connection, device_id: str) -> Iterator[None]:
    """Serialise configuration changes of one device from the version's insert until after its publish (a session
    lock, so it outlives the commit in between). Released also when the body raises."""
    conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_CONFIG_LOCK_CLASS, device_id))
    try:
        yield
    finally:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.rollback()
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_CONFIG_LOCK_CLASS, device_id))


def _desired(row: dict[str, Any]) -> DesiredConfig:
    return DesiredConfig(**row)


def current_desired_config(conn: psycopg.Connection, device_id: str) -> DesiredConfig | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT device_id, version, config, actor, role, created_at FROM device_configs"
            " WHERE device_id = %s ORDER BY version DESC LIMIT 1",
            (device_id,),
        ).fetchone()
    return _desired(row) if row else None


def config_history(
    conn: psycopg.Connection, device_id: str, limit: int = 50, offset: int = 0
) -> tuple[list[DesiredConfig], int]:
    """The device's desired configurations, newest version first, and how many it has had."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT device_id, version, config, actor, role, created_at FROM device_configs"
            " WHERE device_id = %s ORDER BY version DESC LIMIT %s OFFSET %s",
            (device_id, limit, offset),
        ).fetchall()
        total = cur.execute("SELECT count(*) AS n FROM device_configs WHERE device_id = %s", (device_id,)).fetchone()
    return [_desired(r) for r in rows], int(total["n"]) if total else 0


def store_desired_config(
    conn: psycopg.Connection,
    device_id: str,
    config: dict[str, Any],
    expected_version: int | None,
    applied_version: int | None,
    actor: str,
    role: str,
) -> DesiredConfig:
    """Append the next version of the device's desired configuration (call under `device_config_lock`).
    `config` is the payload without `version`; the stored (and published) payload carries the new one."""
    current = current_desired_config(conn, device_id)
    version = next_config_version(current.version if current else None, applied_version, expected_version)
    payload = {**{k: v for k, v in config.items() if k != "version"}, "version": version}
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO device_configs (device_id, version, config, actor, role) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING device_id, version, config, actor, role, created_at",
            (device_id, version, Jsonb(payload), actor, role),
        ).fetchone()
    assert row is not None
    return _desired(row)


# ---- snapshots --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    device_id: str
    cmd_id: str
    camera_id: str | None
    sha256: str
    content_type: str
    bytes: int
    stored_at: datetime


_SNAPSHOT_COLUMNS = "device_id, cmd_id, camera_id, sha256, content_type, bytes, stored_at"


def _snapshot(conn: psycopg.Connection, device_id: str, cmd_id: str) -> SnapshotRecord | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM device_snapshots WHERE device_id = %s AND cmd_id = %s",
            (device_id, cmd_id),
        ).fetchone()
    return SnapshotRecord(**row) if row else None


def put_snapshot(
    conn: psycopg.Connection,
    store: EvidenceStore,
    device_id: str,
    cmd_id: str,
    camera_id: str | None,
    data: bytes,
    claimed_sha256: str | None,
) -> tuple[bool, SnapshotRecord]:
    """Store the picture a device took for one of its `snapshot` commands; idempotent per (device, cmd_id).
    Returns (created, record); ControlError for an upload that breaks a rule."""
    if not claimed_sha256:
        raise ControlError(400, "X-Content-SHA256 header is required (hex sha256 of the body)")
    if not data:
        raise ControlError(400, "empty body; send the JPEG bytes")
    if not data.startswith(JPEG_MAGIC):
        raise ControlError(415, "body is not a JPEG image")
    sha256 = hashlib.sha256(data).hexdigest()
    if claimed_sha256.strip().lower() != sha256:
        raise ControlError(400, f"X-Content-SHA256 {claimed_sha256!r} does not match the body's sha256 {sha256}")
    command = get_command(conn, device_id, cmd_id)
    if command is None or command.name not in SNAPSHOT_COMMANDS:
        raise ControlError(404, f"no snapshot or probe command {cmd_id!r} was sent to device {device_id!r}")
    camera = camera_id or command.args.get("camera_id")
    existing, created = _snapshot(conn, device_id, cmd_id), False
    if existing is None:
        store.put(sha256, data)  # content-addressed and atomic: a lost race below leaves nothing half-written
        inserted = conn.execute(
            "INSERT INTO device_snapshots (device_id, cmd_id, camera_id, sha256, content_type, bytes)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, cmd_id) DO NOTHING RETURNING cmd_id",
            (device_id, cmd_id, camera, sha256, SNAPSHOT_CONTENT_TYPE, len(data)),
        ).fetchone()
        created = inserted is not None  # else another upload of this snapshot committed meanwhile
        existing = _snapshot(conn, device_id, cmd_id)
        assert existing is not None
    if existing.sha256 != sha256:
        raise ControlError(409, f"snapshot {cmd_id} is already stored with different bytes (sha256 {existing.sha256})")
    return created, existing


def prune_snapshots(conn: psycopg.Connection, device_id: str, camera_id: str | None, keep: int) -> list[str]:
    """Delete all but the newest `keep` snapshot rows of one camera; returns the sha256s the deleted rows used.
    Delete their bytes after the commit (`delete_unreferenced_snapshots`), when no row refers to them any more."""
    rows = conn.execute(
        "DELETE FROM device_snapshots WHERE (device_id, cmd_id) IN ("
        " SELECT device_id, cmd_id FROM device_snapshots WHERE device_id = %s AND camera_id IS NOT DISTINCT FROM %s"
        " ORDER BY stored_at DESC, cmd_id DESC OFFSET %s) RETURNING sha256",
        (device_id, camera_id, keep),
    ).fetchall()
    return sorted({r[0] for r in rows})


def delete_unreferenced_snapshots(pool: ConnectionPool, store: EvidenceStore, sha256s: Sequence[str]) -> int:
    """Remove stored bytes no snapshot and no evidence row uses (content addressing shares bytes); returns how many."""
    if not sha256s:
        return 0
    with pool.connection() as conn:
        used = {
            r[0]
            for r in conn.execute(
                "SELECT sha256 FROM device_snapshots WHERE sha256 = ANY(%(s)s)"
                " UNION SELECT sha256 FROM evidence WHERE sha256 = ANY(%(s)s)",
                {"s": list(sha256s)},
            ).fetchall()
        }
    removed = sum(1 for sha in sha256s if sha not in used and store.delete(sha))
    if removed:
        log.info("snapshots: %d old pictures deleted", removed)
    return removed


def latest_snapshot(conn: psycopg.Connection, device_id: str, camera_id: str | None = None) -> SnapshotRecord | None:
    """The newest snapshot of the device (of one camera when `camera_id` is given)."""
    where, params = "device_id = %s", [device_id]
    if camera_id is not None:
        where, params = where + " AND camera_id = %s", [device_id, camera_id]
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM device_snapshots WHERE {where} ORDER BY stored_at DESC, cmd_id DESC"
            " LIMIT 1",
            params,
        ).fetchone()
    return SnapshotRecord(**row) if row else None


def get_snapshot(conn: psycopg.Connection, device_id: str, cmd_id: str) -> SnapshotRecord | None:
    return _snapshot(conn, device_id, cmd_id)


def list_snapshots(
    conn: psycopg.Connection, device_id: str, limit: int = 50, offset: int = 0
) -> tuple[list[SnapshotRecord], int]:
    """The device's stored snapshots, newest first, and how many it has."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM device_snapshots WHERE device_id = %s"
            " ORDER BY stored_at DESC, cmd_id DESC LIMIT %s OFFSET %s",
            (device_id, limit, offset),
        ).fetchall()
        total = cur.execute("SELECT count(*) AS n FROM device_snapshots WHERE device_id = %s", (device_id,)).fetchone()
    return [SnapshotRecord(**r) for r in rows], int(total["n"]) if total else 0


def model_holders(conn: psycopg.Connection, name: str, sha256: str) -> tuple[list[str], list[str]]:
    """(devices whose latest health runs this file, devices that run detector `name` from another file)."""
    rows = conn.execute(
        "SELECT d.device_id, bool_or(m->>'sha256' = %s) FROM devices d,"
        " jsonb_array_elements(CASE WHEN jsonb_typeof(d.models) = 'array' THEN d.models ELSE '[]' END) m"
        " WHERE m->>'name' = %s AND d.retired_at IS NULL GROUP BY d.device_id ORDER BY d.device_id",
        (sha256, name),
    ).fetchall()
    return [d for d, has in rows if has], [d for d, has in rows if not has]
