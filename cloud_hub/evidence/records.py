"""Evidence rows: which device uploaded which picture for which event (upload rules live here, not in HTTP)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import psycopg

from cloud_hub.evidence.store import EvidenceStore

JPEG_MAGIC = b"\xff\xd8\xff"


class EvidenceRejected(ValueError):
    """The upload breaks a rule; `status` is the HTTP status that says which."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Upload(Enum):
    CREATED = "created"  # first time: 201
    SAME = "same"  # the same bytes again: 200, nothing changed


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    event_id: str
    device_id: str
    sha256: str
    content_type: str
    bytes: int
    path: str


def _existing(conn: psycopg.Connection, event_id: str) -> EvidenceRecord | None:
    row = conn.execute(
        "SELECT event_id::text, device_id, sha256, content_type, bytes, path FROM evidence WHERE event_id = %s",
        (event_id,),
    ).fetchone()
    return EvidenceRecord(*row) if row else None


def _judge(existing: EvidenceRecord, device_id: str, sha256: str) -> Upload:
    if existing.device_id != device_id:
        raise EvidenceRejected(403, f"evidence for event {existing.event_id} belongs to another device")
    if existing.sha256 != sha256:
        stored = existing.sha256
        raise EvidenceRejected(409, f"event {existing.event_id} already has different evidence (sha256 {stored})")
    return Upload.SAME


def put_evidence(
    conn: psycopg.Connection,
    store: EvidenceStore,
    event_id: str,
    device_id: str,
    data: bytes,
    claimed_sha256: str | None,
    content_type: str = "image/jpeg",
) -> tuple[Upload, EvidenceRecord]:
    """Store a device's picture for one of its events; idempotent. The event itself may arrive later (devices
    upload before they publish), so the uploader is recorded and compared with the event's device when read."""
    if not claimed_sha256:
        raise EvidenceRejected(400, "X-Content-SHA256 header is required (hex sha256 of the body)")
    if not data:
        raise EvidenceRejected(400, "empty body; send the JPEG bytes")
    if not data.startswith(JPEG_MAGIC):
        raise EvidenceRejected(415, "body is not a JPEG image")
    sha256 = hashlib.sha256(data).hexdigest()
    if claimed_sha256.strip().lower() != sha256:
        raise EvidenceRejected(400, f"X-Content-SHA256 {claimed_sha256!r} does not match the body's sha256 {sha256}")
    owner = conn.execute("SELECT device_id FROM events WHERE event_id = %s LIMIT 1", (event_id,)).fetchone()
    if owner is not None and owner[0] != device_id:
        raise EvidenceRejected(403, f"event {event_id} belongs to another device")
    existing = _existing(conn, event_id)
    if existing is not None:
        return _judge(existing, device_id, sha256), existing
    path = store.put(sha256, data)  # content-addressed and atomic: a lost race below leaves nothing half-written
    row = conn.execute(
        "INSERT INTO evidence (event_id, device_id, sha256, content_type, bytes, path) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        (event_id, device_id, sha256, content_type, len(data), path),
    ).fetchone()
    if row is None:  # another upload for this event committed meanwhile
        existing = _existing(conn, event_id)
        assert existing is not None
        return _judge(existing, device_id, sha256), existing
    return Upload.CREATED, EvidenceRecord(event_id, device_id, sha256, content_type, len(data), path)


def get_evidence(conn: psycopg.Connection, store: EvidenceStore, event_id: str) -> tuple[EvidenceRecord, bytes]:
    """The picture of a stored event, only when the device that uploaded it is the event's device."""
    record = _existing(conn, event_id)
    if record is None:
        raise EvidenceRejected(404, f"no evidence stored for event {event_id}")
    owner = conn.execute("SELECT device_id FROM events WHERE event_id = %s LIMIT 1", (event_id,)).fetchone()
    if owner is None:
        raise EvidenceRejected(404, f"event {event_id} is not stored (yet); its evidence is held back until it is")
    if owner[0] != record.device_id:
        raise EvidenceRejected(409, f"evidence of event {event_id} was uploaded by a device other than the event's")
    try:
        return record, store.get(record.sha256)
    except FileNotFoundError:
        raise EvidenceRejected(404, f"evidence file of event {event_id} is missing from the store") from None


# Retention (cloud_hub.evidence.retention): evidence whose event is gone, or never came, after a grace period.
_ORPHANS = """
SELECT ev.event_id, ev.sha256 FROM evidence ev
WHERE ev.stored_at < %(cutoff)s AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = ev.event_id)
ORDER BY ev.stored_at
LIMIT %(batch)s
FOR UPDATE OF ev SKIP LOCKED
"""


def lock_orphan_evidence(conn: psycopg.Connection, cutoff: datetime, batch: int) -> list[tuple[str, str]]:
    """(event id, sha256) of up to `batch` evidence rows stored before `cutoff` without their event, row-locked
    (rows another sweeper holds are skipped)."""
    return conn.execute(_ORPHANS, {"cutoff": cutoff, "batch": batch}).fetchall()


def hashes_used_elsewhere(conn: psycopg.Connection, hashes: list[str], except_event_ids: list[str]) -> set[str]:
    """Which of these stored pictures also back other events' evidence, an officer's photo or a camera snapshot."""
    rows = conn.execute(
        "SELECT sha256 FROM evidence WHERE sha256 = ANY(%(h)s) AND NOT (event_id = ANY(%(e)s))"
        " UNION SELECT sha256 FROM work_order_photos WHERE sha256 = ANY(%(h)s)"
        " UNION SELECT sha256 FROM device_snapshots WHERE sha256 = ANY(%(h)s)",
        {"h": hashes, "e": except_event_ids},
    ).fetchall()
    return {r[0] for r in rows}


def delete_evidence_rows(conn: psycopg.Connection, event_ids: list[str]) -> int:
    return conn.execute("DELETE FROM evidence WHERE event_id = ANY(%s)", (event_ids,)).rowcount
