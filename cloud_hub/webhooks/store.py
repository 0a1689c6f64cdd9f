"""Data access for webhooks (migration 0016): subscriptions, the durable delivery queue, and the fan-out cursor
over the live channel's messages. Times are the database's (`now()`), so every replica schedules alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from cloud_hub.live.messages import Position

# Any fixed 64-bit number: one fan-out at a time across hub replicas (advisory locks assign no transaction id, so
# the live channel's horizon is not held back by the fan-out itself).
FANOUT_LOCK_KEY = 0x7765_6268_6F6F_6B73
_SUB = "s.id, s.name, s.url, s.events, s.active, s.failures, s.retry_at, s.created_by, s.created_at, s.updated_at"
_COUNTS = """
    (SELECT count(*) FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.status = 'pending') AS pending,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.status = 'dead') AS dead
"""
_DELIVERY = (
    "delivery_id, subscription_id, event_type, status, attempts, next_attempt_at, last_attempt_at, last_status,"
    " last_error, created_at, delivered_at, dead_at"
)


# ---- subscriptions ---------------------------------------------------------------------------------------------


def create_subscription(
    conn: psycopg.Connection, name: str, url: str, events: Sequence[str], secret: str, active: bool, actor: str
) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO webhook_subscriptions (name, url, events, secret, active, created_by)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (name, url, list(events), secret, active, actor),
        ).fetchone()
    assert row is not None
    created = get_subscription(conn, row["id"])
    assert created is not None
    return created


def get_subscription(conn: psycopg.Connection, subscription_id: int, lock: bool = False) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_SUB}, {_COUNTS} FROM webhook_subscriptions s WHERE s.id = %s{' FOR UPDATE' if lock else ''}",
            (subscription_id,),
        ).fetchone()


def list_subscriptions(conn: psycopg.Connection, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_SUB}, {_COUNTS} FROM webhook_subscriptions s ORDER BY s.id LIMIT %s OFFSET %s", (limit, offset)
        ).fetchall()
        total = cur.execute("SELECT count(*) AS n FROM webhook_subscriptions").fetchone()
    return rows, int(total["n"]) if total else 0


_UPDATABLE = ("name", "url", "events", "secret", "active")


def update_subscription(conn: psycopg.Connection, subscription_id: int, changes: dict[str, Any]) -> None:
    """Set the given fields (of name, url, events, secret, active). Re-activating or a new URL also ends a
    failing receiver's pause, so the next delivery is tried at once."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
    if not changes:
        return
    sets = ", ".join(f"{name} = %({name})s" for name in changes)
    reset = ", failures = 0, retry_at = NULL" if {"url", "active"} & set(changes) else ""
    conn.execute(
        f"UPDATE webhook_subscriptions SET {sets}{reset}, updated_at = now() WHERE id = %(id)s",
        {**{k: list(v) if k == "events" else v for k, v in changes.items()}, "id": subscription_id},
    )


def delete_subscription(conn: psycopg.Connection, subscription_id: int) -> bool:
    """Delete it with its queue (pending, delivered and dead deliveries)."""
    return conn.execute("DELETE FROM webhook_subscriptions WHERE id = %s", (subscription_id,)).rowcount > 0


# ---- fan-out: live messages -> deliveries ----------------------------------------------------------------------


def lock_fanout(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (FANOUT_LOCK_KEY,))


def fanout_cursor(conn: psycopg.Connection) -> Position | None:
    row = conn.execute("SELECT txid::text, id FROM webhook_cursor WHERE singleton").fetchone()
    return Position(int(row[0]), row[1]) if row else None


def set_fanout_cursor(conn: psycopg.Connection, position: Position) -> None:
    conn.execute(
        "INSERT INTO webhook_cursor (singleton, txid, id) VALUES (true, %s::text::xid8, %s)"
        " ON CONFLICT (singleton) DO UPDATE SET txid = EXCLUDED.txid, id = EXCLUDED.id",
        (str(position.txid), position.id),
    )


@dataclass(frozen=True, slots=True)
class Listener:
    subscription_id: int
    events: frozenset[str]
    since: datetime  # created_at: messages written before it are not for this subscription


def listeners(conn: psycopg.Connection) -> list[Listener]:
    rows = conn.execute("SELECT id, events, created_at FROM webhook_subscriptions WHERE active ORDER BY id")
    return [Listener(r[0], frozenset(r[1]), r[2]) for r in rows.fetchall()]


@dataclass(frozen=True, slots=True)
class NewDelivery:
    delivery_id: UUID
    subscription_id: int
    position: Position | None  # the live message's; None for a ping
    event_type: str
    body: str


def insert_deliveries(conn: psycopg.Connection, deliveries: Sequence[NewDelivery]) -> int:
    """Queue them (one statement); a message already queued for a subscription is not queued twice."""
    if not deliveries:
        return 0
    columns = [
        [str(d.delivery_id) for d in deliveries],
        [d.subscription_id for d in deliveries],
        [str(d.position.txid) if d.position else None for d in deliveries],
        [d.position.id if d.position else None for d in deliveries],
        [d.event_type for d in deliveries],
        [d.body for d in deliveries],
    ]
    return conn.execute(
        "INSERT INTO webhook_deliveries (delivery_id, subscription_id, msg_txid, msg_id, event_type, body)"
        " SELECT t.d, t.s, t.tx::xid8, t.m, t.e, t.b"
        " FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[])"
        "   AS t(d, s, tx, m, e, b)"
        " ON CONFLICT (subscription_id, msg_txid, msg_id) DO NOTHING",
        columns,
    ).rowcount


# ---- delivery --------------------------------------------------------------------------------------------------


def due_subscriptions(conn: psycopg.Connection, limit: int) -> list[int]:
    """Active subscriptions that are not paused and have a delivery due, the longest-waiting first."""
    rows = conn.execute(
        "SELECT s.id FROM webhook_subscriptions s"
        " JOIN LATERAL (SELECT min(d.next_attempt_at) AS due FROM webhook_deliveries d"
        "   WHERE d.subscription_id = s.id AND d.status = 'pending' AND d.next_attempt_at <= now()) q ON true"
        " WHERE s.active AND (s.retry_at IS NULL OR s.retry_at <= now()) AND q.due IS NOT NULL"
        " ORDER BY q.due, s.id LIMIT %s",
        (limit,),
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: UUID
    subscription_id: int
    url: str
    secret: str
    event_type: str
    body: str
    attempt: int  # 1 for the first try


def claim_next(conn: psycopg.Connection, subscription_id: int, lease_s: float) -> Claimed | None:
    """Lease the subscription's next due delivery for one attempt (committed at once, in its own transaction).
    None when nothing is due, the subscription is paused or inactive, or another process is delivering to it:
    one attempt in flight per receiver, so a slow receiver holds up no one else."""
    with conn.transaction():
        sub = conn.execute(
            "SELECT url, secret FROM webhook_subscriptions WHERE id = %s AND active"
            " AND (retry_at IS NULL OR retry_at <= now()) FOR UPDATE SKIP LOCKED",
            (subscription_id,),
        ).fetchone()
        if sub is None:
            return None
        busy = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE subscription_id = %s AND status = 'pending'"
            " AND leased_until > now())",
            (subscription_id,),
        ).fetchone()
        if busy and busy[0]:
            return None
        row = conn.execute(
            "UPDATE webhook_deliveries d SET leased_until = now() + make_interval(secs => %(lease)s),"
            " attempts = d.attempts + 1, last_attempt_at = now()"
            " WHERE d.delivery_id = (SELECT delivery_id FROM webhook_deliveries"
            "   WHERE subscription_id = %(s)s AND status = 'pending' AND next_attempt_at <= now()"
            "   AND (leased_until IS NULL OR leased_until <= now())"
            "   ORDER BY next_attempt_at, created_at, msg_txid, msg_id LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " AND d.status = 'pending'"
            " RETURNING d.delivery_id, d.event_type, d.body, d.attempts",
            {"lease": lease_s, "s": subscription_id},
        ).fetchone()
    if row is None:
        return None
    return Claimed(row[0], subscription_id, sub[0], sub[1], row[1], row[2], row[3])


def record_success(conn: psycopg.Connection, claimed: Claimed, status_code: int) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), leased_until = NULL,"
            " last_status = %s, last_error = NULL WHERE delivery_id = %s AND status = 'pending'",
            (status_code, claimed.delivery_id),
        )
        conn.execute(
            "UPDATE webhook_subscriptions SET failures = 0, retry_at = NULL WHERE id = %s"
            " AND (failures <> 0 OR retry_at IS NOT NULL)",
            (claimed.subscription_id,),
        )


def record_failure(
    conn: psycopg.Connection, claimed: Claimed, status_code: int | None, error: str, retry_in_s: float, dead: bool
) -> int:
    """The attempt failed: retry the delivery in `retry_in_s` (or dead-letter it); the subscription's count of
    failures in a row goes up. Returns that count (the caller pauses the receiver accordingly)."""
    with conn.transaction():
        conn.execute(
            "UPDATE webhook_deliveries SET leased_until = NULL, last_status = %(code)s, last_error = %(error)s,"
            " status = CASE WHEN %(dead)s THEN 'dead' ELSE 'pending' END,"
            " dead_at = CASE WHEN %(dead)s THEN now() END,"
            " next_attempt_at = now() + make_interval(secs => %(delay)s)"
            " WHERE delivery_id = %(id)s AND status = 'pending'",
            {"code": status_code, "error": error[:1000], "dead": dead, "delay": retry_in_s, "id": claimed.delivery_id},
        )
        row = conn.execute(
            "UPDATE webhook_subscriptions SET failures = failures + 1 WHERE id = %s RETURNING failures",
            (claimed.subscription_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def pause_subscription(conn: psycopg.Connection, subscription_id: int, pause_s: float) -> None:
    conn.execute(
        "UPDATE webhook_subscriptions SET retry_at = now() + make_interval(secs => %s) WHERE id = %s",
        (pause_s, subscription_id),
    )


def prune_deliveries(conn: psycopg.Connection, delivered_days: float, dead_days: float) -> int:
    """Forget delivered deliveries and dead letters past their keeping time; returns how many went."""
    return conn.execute(
        "DELETE FROM webhook_deliveries WHERE (status = 'delivered' AND delivered_at < now() - make_interval("
        "days => %s::int)) OR (status = 'dead' AND dead_at < now() - make_interval(days => %s::int))",
        (delivered_days, dead_days),
    ).rowcount


# ---- what administrators see and do ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryFilters:
    subscription_id: int | None = None
    status: str | None = None
    event_type: str | None = None
    limit: int = 100
    offset: int = 0


def list_deliveries(conn: psycopg.Connection, f: DeliveryFilters) -> tuple[list[dict[str, Any]], int]:
    """Newest first, without bodies."""
    where, params = ["TRUE"], {"limit": f.limit, "offset": f.offset}
    for column in ("subscription_id", "status", "event_type"):
        value = getattr(f, column)
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    clause = " AND ".join(where)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE {clause}"
            " ORDER BY created_at DESC, delivery_id LIMIT %(limit)s OFFSET %(offset)s",
            params,
        ).fetchall()
        total = cur.execute(f"SELECT count(*) AS n FROM webhook_deliveries WHERE {clause}", params).fetchone()
    return rows, int(total["n"]) if total else 0


def get_delivery(conn: psycopg.Connection, delivery_id: UUID) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_DELIVERY}, body FROM webhook_deliveries WHERE delivery_id = %s", (delivery_id,)
        ).fetchone()


def redeliver(conn: psycopg.Connection, delivery_ids: Sequence[UUID] | None, subscription_id: int | None) -> int:
    """Put dead letters back in the queue, due now with a fresh attempt count (by id, or all of a subscription's);
    the receiver's pause ends too. Returns how many were re-queued."""
    if delivery_ids is not None:
        where, param = "delivery_id = ANY(%s)", list(delivery_ids)
    else:
        where, param = "subscription_id = %s", subscription_id
    rows = conn.execute(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), dead_at = NULL,"
        f" leased_until = NULL WHERE status = 'dead' AND {where} RETURNING subscription_id",
        (param,),
    ).fetchall()
    subs = sorted({r[0] for r in rows})
    if subs:
        conn.execute("UPDATE webhook_subscriptions SET failures = 0, retry_at = NULL WHERE id = ANY(%s)", (subs,))
    return len(rows)
