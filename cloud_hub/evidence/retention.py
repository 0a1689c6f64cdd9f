"""Evidence retention: a picture goes when its event is gone (deleted by event retention) or never arrived.

Devices upload a picture before they publish its event, so a picture without an event is only an orphan once it
is older than a grace period. One rule covers both cases and every edition (raw-event retention by the hub's
scheduler or by a TimescaleDB policy): evidence rows older than the grace whose event_id is not in `events`.

Order of work per batch, inside one transaction that row-locks the batch: delete the stored bytes that no other
evidence row uses, then delete the rows, then commit. A crash in between leaves rows pointing at deleted bytes,
which the next sweep finds and removes; the other order could leak bytes that no row points at any more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from cloud_hub.evidence.records import delete_evidence_rows, hashes_used_elsewhere, lock_orphan_evidence
from cloud_hub.evidence.store import EvidenceStore

log = logging.getLogger(__name__)
DEFAULT_BATCH = 200


@dataclass(frozen=True, slots=True)
class SweepResult:
    rows: int
    files: int

    def describe(self) -> str:
        return f"evidence: {self.rows} rows and {self.files} stored pictures deleted"


def _sweep_batch(conn: psycopg.Connection, store: EvidenceStore, cutoff: datetime, batch: int) -> tuple[int, int]:
    with conn.transaction():
        candidates = lock_orphan_evidence(conn, cutoff, batch)
        if not candidates:
            return 0, 0
        event_ids = [c[0] for c in candidates]
        hashes = sorted({c[1] for c in candidates})
        # The same bytes may back other events' evidence, an officer's photo or a camera snapshot (the store is
        # content-addressed and shared): keep those.
        shared = hashes_used_elsewhere(conn, hashes, event_ids)
        files = sum(1 for sha in hashes if sha not in shared and store.delete(sha))
        rows = delete_evidence_rows(conn, event_ids)
    return rows, files


def sweep_orphan_evidence(
    conn: psycopg.Connection, store: EvidenceStore, now: datetime, grace: timedelta, batch: int = DEFAULT_BATCH
) -> SweepResult:
    """Delete evidence (rows and bytes) of events that are not stored, uploaded more than `grace` before `now`.
    Needs a connection outside a transaction: every batch commits on its own."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    cutoff = now - grace
    rows = files = 0
    while True:
        r, f = _sweep_batch(conn, store, cutoff, batch)
        rows, files = rows + r, files + f
        if r < batch:
            break
    if rows:
        log.info("evidence retention: %d rows, %d pictures deleted (uploaded before %s)", rows, files, cutoff)
    return SweepResult(rows, files)
