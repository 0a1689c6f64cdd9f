"""Durable outbox in SQLite (WAL, synchronous=FULL): an event is on disk with its seq before anything is sent.

- `seq` is per device, starts at 1 and never goes back: the last issued value lives in a meta table, so it
  survives restarts and an empty outbox.
- An event leaves the outbox only on the hub's ack (`seq <= N`), never on a broker PUBACK; its evidence file is
  deleted with it.
- Unacked events are retransmitted after a timeout that backs off per attempt, and at once after a reconnect.
- The outbox is bounded by count (`max_events`) and by bytes (`max_bytes`: event JSON + evidence files + spooled
  messages). Health snapshots and telemetry held while offline live in a low-priority `spool`: above
  `low_priority_share` of the quota new ones are dropped, and an event that needs room evicts the oldest spooled
  ones before it is itself refused. Every drop is counted, logged and shown in health and metrics.
- Disk space (`disk_guard`, edge_agent/comms/disk_guard.py): below the filesystem reserve, `update` events and
  spooled messages are refused before a seq is given (so the hub never waits for a gap); a write that fails with
  SQLite's SQLITE_FULL or ENOSPC is retried for a `start` after giving back queued health/telemetry and pictures not
  yet uploaded, and for an `end` also after releasing the guard's ballast. Other writes are refused and counted.
- Power loss: WAL with synchronous=FULL fsyncs the log on every commit, so a committed row survives a power cut
  (NORMAL would only guarantee that the database stays consistent, possibly losing the last commits).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityops.contract.messages import MAX_EVENT_BATCH_BYTES, MAX_EVENTS_PER_BATCH, Event, EventBatch, dump
from edge_agent.comms.disk_guard import DiskGuard, DiskLevel, Work, is_disk_full, work_for_phase

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    evidence_path TEXT,
    evidence_sha256 TEXT,
    evidence_done INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    created_at REAL NOT NULL
);
"""
LOG_EVERY_DROPS = 100  # loud, but not one line per dropped health snapshot for a week-long outage


class OutboxFull(RuntimeError):
    """The outbox holds `max_events` unacked events; new ones are refused until the hub acks."""


class DiskFull(OutboxFull):
    """The disk is below its reserve (or full) and this event ranks too low to be written."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    event_id: str
    payload: str
    evidence_path: Path | None
    evidence_sha256: str | None
    evidence_done: bool
    attempts: int


def batch_envelope_bytes(device_id: str) -> int:
    """Bytes an EventBatch adds around its events (computed, not guessed, from the real serialiser)."""
    return len(dump(EventBatch(device_id=device_id, events=[{}]))) - 2


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        max_events: int = 100_000,
        retransmit_after_s: float = 10.0,
        max_backoff_s: float = 300.0,
        max_bytes: int = 2 * 1024**3,
        low_priority_share: float = 0.8,
        clock: Callable[[], float] = time.time,
        disk_guard: DiskGuard | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self.retransmit_after_s = retransmit_after_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock  # wall clock: deadlines are stored and must mean something after a restart
        self.max_bytes = max_bytes
        self.low_priority_bytes = int(max_bytes * low_priority_share)
        self.refused = 0
        """Events refused because the outbox was full."""
        self.dropped_low_priority = 0
        """Health/telemetry messages dropped or evicted to keep room for events."""
        self.disk_guard = disk_guard
        self.pictures_given_up = 0
        """Pictures not yet uploaded, deleted to keep disk space for events (those go with evidence_missing)."""
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # survive power loss, not just a process crash
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        if "evidence_bytes" not in columns:  # outboxes written by earlier agents
            self._db.execute("ALTER TABLE events ADD COLUMN evidence_bytes INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -------------------------------------------------------------------------------------------

    def append(self, event: dict[str, Any], evidence_path: Path | None = None) -> int:
        """Assign the next seq, validate the event against protocol v1 and store it; returns the seq.

        `event` has every field but `seq`. When `evidence_path` is given the event is held back until the
        picture is uploaded (`mark_evidence_done`). Raises OutboxFull (DiskFull when for lack of disk space).
        """
        evidence_bytes = evidence_path.stat().st_size if evidence_path else 0
        work = work_for_phase(str(event.get("phase")))
        guard = self.disk_guard
        if guard is not None:
            if not guard.admit(work):
                raise DiskFull(
                    f"disk {guard.level}: {guard.free} bytes free, reserve {guard.reserve_bytes}; {work} event refused"
                )
            if guard.level is DiskLevel.CRITICAL:
                self._give_back_space(guard.level)
        try:
            return self._insert(event, evidence_path, evidence_bytes)
        except sqlite3.OperationalError as exc:
            if not is_disk_full(exc):
                raise
            failure = exc
        if work not in (Work.END, Work.START):
            self._note_disk_full(work, refused=True)
            raise DiskFull(f"disk full: {work} event refused ({failure})") from failure
        self._note_disk_full(work, refused=False)
        # Cheapest first: what the outbox holds of low rank; the ballast only for an end.
        makers = [lambda: self._give_back_space(DiskLevel.CRITICAL)]
        if work is Work.END and guard is not None:
            makers.append(guard.release_ballast)
        for make_room in makers:
            try:
                make_room()
                return self._insert(event, evidence_path, evidence_bytes)
            except sqlite3.OperationalError as exc:
                if not is_disk_full(exc):
                    raise
                failure = exc
        self._note_disk_full(work, refused=True)
        if work is Work.END:
            log.critical("DISK FULL: an end event could not be written even after releasing the ballast")
        raise DiskFull(f"disk full: {work} event refused even after making room ({failure})") from failure

    def _insert(self, event: dict[str, Any], evidence_path: Path | None, evidence_bytes: int) -> int:
        with self._lock, self._tx():
            depth = self._db.execute("SELECT count(*) FROM events").fetchone()[0]
            if depth >= self.max_events:
                self.refused += 1
                raise OutboxFull(f"outbox holds {depth} unacked events (limit {self.max_events}); event refused")
            seq = self._last_seq() + 1
            validated = Event.model_validate({**event, "seq": seq})
            payload = validated.model_dump_json(by_alias=True, exclude_none=True)
            needed = len(payload.encode()) + evidence_bytes
            if not self._make_room(needed):
                self.refused += 1
                raise OutboxFull(
                    f"outbox disk quota reached ({self._usage()} of {self.max_bytes} bytes, even after dropping"
                    " queued health/telemetry); event refused"
                )
            sha = validated.evidence.sha256 if validated.evidence else None
            self._db.execute(
                "INSERT INTO events (seq, event_id, payload, evidence_path, evidence_sha256, evidence_done,"
                " created_at, evidence_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    validated.event_id,
                    payload,
                    str(evidence_path) if evidence_path else None,
                    sha,
                    0 if evidence_path else 1,
                    self.clock(),
                    evidence_bytes,
                ),
            )
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_seq', ?)", (str(seq),))
            return seq

    def spool(self, topic: str, payload: bytes, qos: int = 0) -> bool:
        """Hold a low-priority message (health, telemetry) for later; False (and counted) when it is dropped."""
        if self.disk_guard is not None and not self.disk_guard.admit(Work.LOW_PRIORITY):
            self._count_drop(1, f"{topic} dropped: disk {self.disk_guard.level}")
            return False
        try:
            with self._lock, self._tx():
                if self._usage() + len(payload) > self.low_priority_bytes:
                    self._count_drop(1, f"{topic} dropped")
                    return False
                self._db.execute(
                    "INSERT INTO spool (topic, payload, qos, created_at) VALUES (?, ?, ?, ?)",
                    (topic, payload, qos, self.clock()),
                )
                return True
        except sqlite3.OperationalError as exc:
            if not is_disk_full(exc):
                raise
            self._note_disk_full(Work.LOW_PRIORITY, refused=True)
            self._count_drop(1, f"{topic} dropped: disk full")
            return False

    def spooled(self, limit: int = 100) -> list[tuple[int, str, bytes, int]]:
        """Oldest spooled messages first: (id, topic, payload, qos)."""
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload, qos FROM spool ORDER BY id LIMIT ?", (limit,))
            return [(r[0], r[1], bytes(r[2]), r[3]) for r in rows.fetchall()]

    def unspool(self, ids: list[int]) -> None:
        if ids:
            with self._lock:
                self._db.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in ids])

    def usage_bytes(self) -> int:
        with self._lock:
            return self._usage()

    def pressure(self) -> str:
        """`ok`, `dropping_low_priority` (health/telemetry are being dropped) or `full` (events refused)."""
        usage = self.usage_bytes()
        if usage >= self.max_bytes or self.depth() >= self.max_events:
            return "full"
        return "dropping_low_priority" if usage >= self.low_priority_bytes else "ok"

    def mark_evidence_done(self, seq: int) -> None:
        with self._lock:
            self._db.execute("UPDATE events SET evidence_done = 1, next_attempt_at = 0 WHERE seq = ?", (seq,))

    def drop_evidence(self, seq: int, missing: dict[str, Any]) -> OutboxItem | None:
        """From now on send this event without its picture: the payload loses `evidence` and says why in
        `evidence_missing`, and the file is deleted. Returns the updated item, None when it was acked meanwhile."""
        with self._lock, self._tx():
            query = "SELECT event_id, payload, evidence_path FROM events WHERE seq = ?"
            row = self._db.execute(query, (seq,)).fetchone()
            if row is None:
                return None
            event_id, payload, path = row
            event = {k: v for k, v in json.loads(payload).items() if k != "evidence"}
            # Through the contract model, so the stored payload stays exactly what `append` would have written.
            payload = Event.model_validate({**event, "evidence_missing": missing}).model_dump_json(
                by_alias=True, exclude_none=True
            )
            # attempts restart at 0: upload attempts must not stretch the retransmit backoff of the event itself.
            self._db.execute(
                "UPDATE events SET payload = ?, evidence_path = NULL, evidence_sha256 = NULL, evidence_done = 1,"
                " evidence_bytes = 0, attempts = 0, next_attempt_at = 0 WHERE seq = ?",
                (payload, seq),
            )
        if path is not None:  # after the commit, as in `ack`
            Path(path).unlink(missing_ok=True)
        return OutboxItem(seq, event_id, payload, None, None, True, 0)

    def defer(self, seqs: list[int]) -> None:
        """Count an attempt and push the next try out by the backoff (used for sent batches and failed uploads)."""
        if not seqs:
            return
        now = self.clock()
        with self._lock, self._tx():
            for seq in seqs:
                row = self._db.execute("SELECT attempts FROM events WHERE seq = ?", (seq,)).fetchone()
                if row is None:
                    continue  # acked meanwhile
                attempts = row[0] + 1
                delay = min(self.retransmit_after_s * 2 ** (attempts - 1), self.max_backoff_s)
                self._db.execute(
                    "UPDATE events SET attempts = ?, next_attempt_at = ? WHERE seq = ?", (attempts, now + delay, seq)
                )

    def retry_all_now(self) -> None:
        """After a reconnect: everything unacked is due again (the broker may have lost in-flight messages)."""
        with self._lock:
            self._db.execute("UPDATE events SET next_attempt_at = 0")

    def ack(self, acked_seq: int) -> int:
        """The hub durably holds every event with seq <= acked_seq: forget them and their evidence files."""
        with self._lock, self._tx():
            paths = [
                r[0]
                for r in self._db.execute(
                    "SELECT evidence_path FROM events WHERE seq <= ? AND evidence_path IS NOT NULL", (acked_seq,)
                )
            ]
            deleted = self._db.execute("DELETE FROM events WHERE seq <= ?", (acked_seq,)).rowcount
        for p in paths:  # after the commit: a crash in between leaves an orphan file, never a dangling row
            Path(p).unlink(missing_ok=True)
        return deleted

    # -- reading -------------------------------------------------------------------------------------------

    def due(
        self, device_id: str, max_events: int = MAX_EVENTS_PER_BATCH, max_bytes: int = MAX_EVENT_BATCH_BYTES
    ) -> list[OutboxItem]:
        """Unacked events whose next attempt is due, oldest first, as many as fit one batch message."""
        budget = max_bytes - batch_envelope_bytes(device_id)
        items: list[OutboxItem] = []
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, payload, evidence_path, evidence_sha256, evidence_done, attempts FROM events"
                " WHERE next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (self.clock(), max_events),
            ).fetchall()
        for seq, event_id, payload, ev_path, ev_sha, ev_done, attempts in rows:
            cost = len(payload.encode()) + (1 if items else 0)  # the comma between events
            if cost > budget:
                if not items:
                    log.error("event seq %d is larger than one batch message (%d bytes); it cannot be sent", seq, cost)
                break
            budget -= cost
            items.append(
                OutboxItem(seq, event_id, payload, Path(ev_path) if ev_path else None, ev_sha, bool(ev_done), attempts)
            )
        return items

    def depth(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM events").fetchone()[0]

    def last_seq(self) -> int:
        with self._lock:
            return self._last_seq()

    def evidence_paths(self) -> set[Path]:
        with self._lock:
            rows = self._db.execute("SELECT evidence_path FROM events WHERE evidence_path IS NOT NULL")
            return {Path(r[0]) for r in rows}

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def prune_orphan_evidence(self, directory: Path) -> int:
        """Delete evidence files no event points at (left by a crash between file write and commit)."""
        if not directory.is_dir():
            return 0
        keep = {p.resolve() for p in self.evidence_paths()}
        removed = 0
        for path in directory.iterdir():
            if path.is_file() and path.resolve() not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- internals -----------------------------------------------------------------------------------------

    def _usage(self) -> int:
        """Logical bytes held (SQLite reuses the pages of deleted rows, so the file stops growing at the quota)."""
        events = self._db.execute("SELECT coalesce(sum(length(payload) + evidence_bytes), 0) FROM events").fetchone()[0]
        spooled = self._db.execute("SELECT coalesce(sum(length(payload)), 0) FROM spool").fetchone()[0]
        return int(events) + int(spooled)

    def _make_room(self, needed: int) -> bool:
        """Evict spooled health/telemetry, oldest first, until `needed` more bytes fit; False if they never do."""
        excess = self._usage() + needed - self.max_bytes
        if excess <= 0:
            return True
        evicted, freed = [], 0
        for row_id, size in self._db.execute("SELECT id, length(payload) FROM spool ORDER BY id"):
            if freed >= excess:
                break
            evicted.append(row_id)
            freed += size
        if freed < excess:
            return False
        self._db.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in evicted])
        self._count_drop(len(evicted), "queued health/telemetry evicted to keep room for events")
        return True

    def _give_back_space(self, level: DiskLevel) -> None:
        """Disk critical: drop queued health/telemetry and the pictures not uploaded yet (their events go with
        `evidence_missing`), so the space goes to ends and starts. Each step commits on its own; a step the full
        disk refuses is skipped (the caller goes on to its next way of making room)."""
        try:
            with self._lock, self._tx():
                evicted = self._db.execute("DELETE FROM spool").rowcount
            if evicted:
                self._count_drop(evicted, "queued health/telemetry evicted: disk critical")
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, attempts FROM events WHERE evidence_done = 0 AND evidence_path IS NOT NULL"
                    " ORDER BY seq"
                ).fetchall()
            detail = f"disk {level}: pictures not yet uploaded were deleted to keep room for events"
            for seq, attempts in rows:
                if self.drop_evidence(seq, {"reason": "disk_low", "detail": detail, "attempts": attempts}):
                    self.pictures_given_up += 1
        except sqlite3.OperationalError as exc:
            if not is_disk_full(exc):
                raise
            log.error("DISK FULL: could not give back queued health/telemetry or pictures: %s", exc)
            return
        if rows:
            log.error(
                "DISK %s: %d picture(s) not yet uploaded deleted; their events go without", level.upper(), len(rows)
            )

    def _note_disk_full(self, work: Work, refused: bool) -> None:
        if self.disk_guard is not None:
            self.disk_guard.note_disk_full(work, refused)
        else:
            log.error("DISK FULL writing %s to the outbox (%s)", work, "refused" if refused else "retrying")

    def _count_drop(self, n: int, what: str) -> None:
        before = self.dropped_low_priority
        self.dropped_low_priority += n
        if before == 0 or before // LOG_EVERY_DROPS != self.dropped_low_priority // LOG_EVERY_DROPS:
            log.warning(
                "OUTBOX FULL: %s (%d low-priority messages dropped so far; quota %d bytes)",
                what,
                self.dropped_low_priority,
                self.max_bytes,
            )

    def _last_seq(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        return int(row[0]) if row else 0

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *_: object) -> None:
        if not exc_type:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error:
                self._rollback()  # a COMMIT that failed (disk full) would otherwise leave the transaction open
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self.db.in_transaction:  # SQLite may have rolled back itself (SQLITE_FULL does)
            self.db.execute("ROLLBACK")


def batch_payload(device_id: str, items: list[OutboxItem]) -> bytes:
    """The wire message for `items`: EventBatch JSON built from the stored (already validated) event JSON."""
    events = [json.loads(item.payload) for item in items]
    return dump(EventBatch(device_id=device_id, events=events))
