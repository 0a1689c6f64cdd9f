"""One ingest batch = one transaction: events exactly once, the per-device ack cursor, telemetry, health, state,
command results, dead letters, and the event processors.

Why this is exactly-once, also with several hub replicas sharing one subscription:

1. Events are inserted first, without any cursor lock: an event whose `seq` is at or below the device's cursor
   (read without a lock; the cursor never goes back, so a stale value is only ever too low) is known to be stored
   and skipped. Any other event goes in by COPY, or with `ON CONFLICT DO NOTHING` on its unique key (device_id,
   event_id, ts) when the COPY collides; either way the unique key decides, and a transaction inserting an event
   that another one holds uncommitted waits for that one's outcome. `RETURNING` (or a COPY that went through)
   names exactly the rows this transaction created, and only those go to the processors, in the same transaction.
   An event and its effects (incident, work order) are therefore committed together, once, or not at all. Rows
   go in sorted by (device, seq), one order for every transaction, so two of them never wait on each other in a
   cycle.
2. Only then are the cursors locked (`SELECT ... FOR UPDATE`, devices in sorted order) and read again: under
   READ COMMITTED every statement sees what committed before it, so after the lock the transaction sees the cursor
   and the pending seqs of every transaction that went before it on this device. Every event of the batch above
   that cursor is stored by now (by this transaction or by a committed one). Holding the lock only for this last
   step, instead of for the whole batch, lets replicas with batches of the same devices insert and process side by
   side; they take turns only here (and on the incident situations they share).
3. The seqs of stored events above the cursor wait in `seq_pending`; the cursor advances only over the
   contiguous run above it (out-of-order delivery leaves a gap until the missing event arrives), so
   `acked_seq = N` always means "every event with seq <= N is stored".
4. The ack `{"acked_seq": N}` and the broker PUBACKs are sent only after the commit (by the writer). A crash
   before that makes the broker and the device resend; steps 1-2 turn the resend into a no-op plus a fresh ack.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cloud_hub.core.types import EventProcessor, IngestedEvent, IngestedReading, TelemetryProcessor
from cloud_hub.ingest.validation import DeadLetter, Validated, ValidEvent

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_RAW = 64 * 1024

EVENT_COLUMNS = (
    "device_id, event_id, seq, ts, received_at, kind, subtype, phase, incident_key, "
    "camera_id, zone_id, confidence, lon, lat, payload"
)
# The columns of `events` itself, so the temp table can never drift from the table it feeds.
_EVENTS_TEMP = "CREATE TEMP TABLE IF NOT EXISTS ingest_events (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_TELEMETRY_TEMP = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_telemetry ("
    " device_id text, sensor_id text, metric text, ts timestamptz, value double precision, received_at timestamptz)"
    " ON COMMIT DELETE ROWS"
)
# Gaps and islands: for a device with cursor a and pending seqs s1 < s2 < ..., the run a+1, a+2, ... is exactly
# the rows where s_i - i = a; the cursor moves to the largest such s_i, and those rows leave seq_pending.
_ADVANCE_CURSORS = """
WITH ranked AS (
    SELECT p.device_id, p.seq, d.acked_seq,
           p.seq - row_number() OVER (PARTITION BY p.device_id ORDER BY p.seq) AS island
    FROM seq_pending p JOIN device_seq d USING (device_id)
    WHERE p.device_id = ANY(%(devices)s)
), runs AS (
    SELECT device_id, max(seq) AS new_acked FROM ranked WHERE island = acked_seq GROUP BY device_id
), moved AS (
    UPDATE device_seq d SET acked_seq = runs.new_acked, updated_at = now()
    FROM runs WHERE d.device_id = runs.device_id
    RETURNING d.device_id, d.acked_seq
), cleared AS (
    DELETE FROM seq_pending p USING moved WHERE p.device_id = moved.device_id AND p.seq <= moved.acked_seq
)
SELECT device_id, acked_seq FROM moved
"""


@dataclass(slots=True)
class StoreOutcome:
    acks: dict[str, int] = field(default_factory=dict)  # device -> acked_seq, for every device with events here
    events_stored: int = 0
    events_duplicate: int = 0
    readings_stored: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    processor_errors: list[str] = field(default_factory=list)


def read_cursors(conn: psycopg.Connection, devices: Sequence[str]) -> dict[str, int]:
    """Create missing cursors and read all of them without locking; returns device -> acked_seq (possibly stale,
    never too high)."""
    ordered = sorted(set(devices))
    conn.execute(
        "INSERT INTO device_seq (device_id) SELECT d FROM unnest(%s::text[]) AS d ORDER BY d ON CONFLICT DO NOTHING",
        (ordered,),
    )
    rows = conn.execute("SELECT device_id, acked_seq FROM device_seq WHERE device_id = ANY(%s)", (ordered,))
    return {device_id: acked for device_id, acked in rows.fetchall()}


def lock_cursors(conn: psycopg.Connection, devices: Sequence[str]) -> dict[str, int]:
    """Lock existing cursors in sorted order and read them; returns device -> acked_seq (current under the lock)."""
    rows = conn.execute(
        "SELECT device_id, acked_seq FROM device_seq WHERE device_id = ANY(%s) ORDER BY device_id FOR UPDATE",
        (sorted(set(devices)),),
    ).fetchall()
    return {device_id: acked for device_id, acked in rows}


def pending_devices(conn: psycopg.Connection, devices: Iterable[str]) -> set[str]:
    """Devices with stored events above their cursor (exact under the cursor locks; a hint before them)."""
    rows = conn.execute("SELECT DISTINCT device_id FROM seq_pending WHERE device_id = ANY(%s)", (sorted(devices),))
    return {device_id for (device_id,) in rows.fetchall()}


def _event_row(item: ValidEvent, received_at: datetime) -> tuple[Any, ...]:
    e = item.event
    lon, lat = (e.location.lon, e.location.lat) if e.location else (None, None)
    return (
        item.device_id, e.event_id, e.seq, e.ts, received_at, e.kind, e.subtype, e.phase, e.incident_key,
        e.camera_id, e.zone_id, e.confidence, lon, lat, item.payload_json,
    )  # fmt: skip


def insert_events(conn: psycopg.Connection, items: Sequence[ValidEvent], received_at: datetime) -> set[tuple[str, str]]:
    """COPY into a temp table, then one INSERT ... ON CONFLICT DO NOTHING; returns (device_id, event_id) created.

    Every item counts for the cursor whether created now or already there (a resend of a stored event).
    """
    conn.execute(_EVENTS_TEMP)
    with conn.cursor() as cur:
        with cur.copy(f"COPY ingest_events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for item in items:
                copy.write_row(_event_row(item, received_at))
        cur.execute(
            f"INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM ingest_events ORDER BY device_id, seq "
            "ON CONFLICT (device_id, event_id, ts) DO NOTHING RETURNING device_id, event_id"
        )
        created = {(device_id, str(event_id)) for device_id, event_id in cur.fetchall()}
    return created


def copy_new_events(conn: psycopg.Connection, items: Sequence[ValidEvent], received_at: datetime) -> bool:
    """The common case: COPY straight into `events`, without the temp table, ON CONFLICT and RETURNING.

    Tried for devices with nothing in seq_pending: every stored event of such a device has `seq <= acked_seq`, so
    events above the cursor are usually new. When one is not (another replica stored it meanwhile, or a device
    reused an event id under a new seq) the unique key refuses the COPY: the savepoint undoes this COPY alone,
    it returns False, and the caller takes the general path (`insert_events`) for the same items."""
    try:
        # conn.transaction(): a savepoint inside the batch's transaction.
        with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for item in items:
                copy.write_row(_event_row(item, received_at))
    except psycopg.errors.UniqueViolation:
        log.info("events already stored for a device with nothing pending; taking the ON CONFLICT path")
        return False
    return True


def contiguous_advance(
    locked: dict[str, int], pending: set[str], items: Sequence[ValidEvent]
) -> tuple[dict[str, int], list[ValidEvent]]:
    """The common case without a round trip through seq_pending: a device with nothing pending whose fresh seqs
    are exactly acked+1..acked+k moves its cursor to acked+k at once. Returns those new cursors and the items of
    every other device, which take the general gaps-and-islands path."""
    by_device: dict[str, set[int]] = {}
    for item in items:
        by_device.setdefault(item.device_id, set()).add(item.event.seq)
    moved: dict[str, int] = {}
    for device_id, seqs in by_device.items():
        top = locked[device_id] + len(seqs)
        if device_id not in pending and max(seqs) == top:  # k distinct seqs all above acked, max acked+k: a run
            moved[device_id] = top
    rest = [item for item in items if item.device_id not in moved]
    return moved, rest


def add_pending(conn: psycopg.Connection, items: Sequence[ValidEvent]) -> None:
    """Seqs above the cursor that cannot move it yet (a gap below them); idempotent."""
    rows = sorted({(item.device_id, item.event.seq) for item in items})
    conn.execute(
        "INSERT INTO seq_pending (device_id, seq) SELECT * FROM unnest(%s::text[], %s::bigint[])"
        " ON CONFLICT DO NOTHING",
        ([d for d, _ in rows], [s for _, s in rows]),
    )


def set_cursors(conn: psycopg.Connection, moved: dict[str, int]) -> None:
    if moved:
        devices = sorted(moved)
        conn.execute(
            "UPDATE device_seq d SET acked_seq = m.acked, updated_at = now() "
            "FROM unnest(%s::text[], %s::bigint[]) AS m(device_id, acked) WHERE d.device_id = m.device_id",
            (devices, [moved[d] for d in devices]),
        )


def advance_cursors(conn: psycopg.Connection, locked: dict[str, int]) -> dict[str, int]:
    acks = dict(locked)
    for device_id, acked in conn.execute(_ADVANCE_CURSORS, {"devices": list(locked)}).fetchall():
        acks[device_id] = acked
    return acks


def insert_readings(
    conn: psycopg.Connection, messages: Iterable[Validated], received_at: datetime, returning: bool = False
) -> tuple[int, list[IngestedReading]]:
    """Stores new readings; returns how many, and (with `returning`) the ones this transaction created."""
    conn.execute(_TELEMETRY_TEMP)
    with conn.cursor() as cur:
        with cur.copy("COPY ingest_telemetry (device_id, sensor_id, metric, ts, value, received_at) FROM STDIN") as cp:
            for message in messages:
                for r in message.readings:
                    cp.write_row((message.device_id, r.sensor_id, r.metric, r.ts, r.value, received_at))
        cur.execute(
            "INSERT INTO telemetry (device_id, sensor_id, metric, ts, value, received_at) "
            "SELECT device_id, sensor_id, metric, ts, value, received_at FROM ingest_telemetry "
            "ON CONFLICT (device_id, sensor_id, metric, ts) DO NOTHING"
            + (" RETURNING device_id, sensor_id, metric, ts, value" if returning else "")
        )
        return cur.rowcount, [IngestedReading(*row) for row in cur.fetchall()] if returning else []


def record_health(conn: psycopg.Connection, message: Validated, received_at: datetime) -> None:
    health = message.health
    assert health is not None
    conn.execute(
        "INSERT INTO health (device_id, ts, received_at, payload) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (message.device_id, health.ts, received_at, message.health_json),
    )
    models = [m.model_dump(exclude_none=True) for m in health.models]
    conn.execute(
        # Only a snapshot newer than the one kept replaces it: replicas may store two snapshots out of order.
        "UPDATE devices SET last_seen = greatest(last_seen, %(ts)s), health = %(payload)s::jsonb,"
        " agent_version = coalesce(%(agent)s, agent_version), config_version = coalesce(%(config)s, config_version),"
        " models = %(models)s, clock_offset_s = %(offset)s, clock_offset_at = %(received)s "
        "WHERE device_id = %(device)s AND (health IS NULL OR (health->>'ts')::timestamptz <= %(ts)s)",
        {
            "ts": health.ts,
            "payload": message.health_json,
            "agent": health.agent_version,
            "config": health.config_version,
            "models": Jsonb(models),
            # The box's clock against the hub's (network delay included, well under a second): skew shows here.
            "offset": round((health.ts - received_at).total_seconds(), 3),
            "received": received_at,
            "device": message.device_id,
        },
    )


def record_state(conn: psycopg.Connection, message: Validated) -> None:
    """Online / offline (Last Will). Ordered by the hub's receive time, which is comparable across replicas."""
    state, received_at = message.state, message.received_at
    assert state is not None
    conn.execute(
        "UPDATE devices SET online = %(online)s, state_ts = %(at)s,"
        " last_seen = CASE WHEN %(online)s THEN greatest(last_seen, %(at)s) ELSE last_seen END,"
        " agent_version = coalesce(%(agent)s, agent_version) "
        "WHERE device_id = %(device)s AND (state_ts IS NULL OR state_ts <= %(at)s)",
        {"online": state.online, "at": received_at, "agent": state.agent_version, "device": message.device_id},
    )


def record_cmd_result(conn: psycopg.Connection, message: Validated, received_at: datetime) -> None:
    result = message.cmd_result
    assert result is not None
    conn.execute(
        "INSERT INTO cmd_results (device_id, cmd_id, ok, detail, received_at, payload) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (message.device_id, result.cmd_id, result.ok, result.detail, received_at, message.cmd_result_json),
    )


def insert_dead_letters(conn: psycopg.Connection, letters: Sequence[DeadLetter], received_at: datetime) -> None:
    if not letters:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dead_letters (received_at, topic, device_id, reason, detail, raw, raw_size)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (received_at, d.topic, d.device_id, d.reason.value, d.detail, d.raw[:MAX_DEAD_LETTER_RAW], len(d.raw))
                for d in letters
            ],
        )


def run_processors(
    conn: psycopg.Connection, processors: Sequence[EventProcessor], events: Sequence[IngestedEvent]
) -> list[str]:
    """Each processor in its own savepoint. A processor that raises loses only its own work: the events stay
    stored and acked, the failure is logged and counted. (Retrying the batch instead would let one bad event
    or one processor bug stop all ingest.) A lost connection is re-raised so the whole batch is retried."""
    failed = []
    for processor in processors:
        try:
            with conn.transaction():
                processor(conn, events)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except Exception:
            name = getattr(processor, "__qualname__", type(processor).__qualname__)
            log.exception("event processor %s failed on %d events; they stay stored", name, len(events))
            failed.append(name)
    return failed


def store_batch(
    conn: psycopg.Connection,
    messages: Sequence[Validated],
    processors: Sequence[EventProcessor],
    received_at: datetime,
    telemetry_processors: Sequence[TelemetryProcessor] = (),
) -> StoreOutcome:
    """Everything of one batch, in the caller's transaction (the caller commits, then acks)."""
    out = StoreOutcome()
    unique: dict[tuple[str, str], ValidEvent] = {}
    for message in messages:
        for item in message.events:
            key = (item.device_id, item.event.event_id)
            if key in unique:
                out.events_duplicate += 1  # the same event twice in this batch (a resend in flight)
            else:
                unique[key] = item
        out.dead_letters.extend(message.dead_letters)

    if unique:
        seen = read_cursors(conn, [device_id for device_id, _ in unique])
        # One insertion order for every transaction (device, seq): concurrent batches never wait in a cycle.
        fresh = sorted(
            (item for item in unique.values() if item.event.seq > seen[item.device_id]),
            key=lambda item: (item.device_id, item.event.seq),
        )
        out.events_duplicate += len(unique) - len(fresh)
        pending = pending_devices(conn, {item.device_id for item in fresh}) if fresh else set()
        clean = [item for item in fresh if item.device_id not in pending]
        created: set[tuple[str, str]] = set()
        if clean and copy_new_events(conn, clean, received_at):
            created = {(item.device_id, item.event.event_id) for item in clean}
            others = [item for item in fresh if item.device_id in pending]
        else:
            others = fresh
        if others:
            created |= insert_events(conn, others, received_at)
        out.events_duplicate += len(fresh) - len(created)
        out.events_stored = len(created)
        new = [item for item in fresh if (item.device_id, item.event.event_id) in created]
        if new and processors:
            ingested = [IngestedEvent(item.device_id, item.event) for item in new]
            out.processor_errors = run_processors(conn, processors, ingested)
        # Last, under the cursor locks: every item of `fresh` is stored by now, here or by a committed transaction.
        locked = lock_cursors(conn, list(seen))
        out.acks = dict(locked)
        above = [item for item in fresh if item.event.seq > locked[item.device_id]]
        if above:
            pending = pending_devices(conn, {item.device_id for item in above})
            moved, rest = contiguous_advance(locked, pending, above)
            set_cursors(conn, moved)
            out.acks.update(moved)
            if rest:
                add_pending(conn, rest)
                out.acks.update(advance_cursors(conn, {d: locked[d] for d in {i.device_id for i in rest}}))

    abandoned = [item for message in messages for item in message.abandoned]
    if abandoned:  # held as dead letters: their seqs count as received, so later events can be acked
        locked = lock_cursors(conn, sorted({item.device_id for item in abandoned}))
        above = [item for item in abandoned if item.event.seq > locked[item.device_id]]
        if above:
            add_pending(conn, above)
            out.acks.update(advance_cursors(conn, {d: locked[d] for d in {i.device_id for i in above}}))
        else:
            out.acks.update(locked)

    if any(message.readings for message in messages):
        out.readings_stored, readings = insert_readings(conn, messages, received_at, bool(telemetry_processors))
        if readings:  # telemetry rules, in savepoints like the event processors
            out.processor_errors += run_processors(conn, telemetry_processors, readings)  # type: ignore[arg-type]
    for message in messages:
        if message.health is not None:
            record_health(conn, message, received_at)
        if message.state is not None:
            record_state(conn, message)
        if message.cmd_result is not None:
            record_cmd_result(conn, message, received_at)
    insert_dead_letters(conn, out.dead_letters, received_at)
    record_clock_offsets(conn, out.dead_letters, received_at)
    return out


def record_clock_offsets(conn: psycopg.Connection, letters: Sequence[DeadLetter], received_at: datetime) -> None:
    """A box whose messages the protocol refuses for their time (over 5 minutes ahead, over 30 days old) is still
    shown with its clock offset, so a technician sees why it seems silent."""
    offsets = {
        letter.device_id: letter.clock_offset_s
        for letter in letters
        if letter.device_id is not None and letter.clock_offset_s is not None
    }
    if offsets:
        devices = sorted(offsets)
        conn.execute(
            "UPDATE devices d SET clock_offset_s = o.offset_s, clock_offset_at = %s"
            " FROM unnest(%s::text[], %s::float8[]) AS o(device_id, offset_s) WHERE d.device_id = o.device_id",
            (received_at, devices, [offsets[d] for d in devices]),
        )
