"""Data access for the audit log (migration 0018): staging entries from Python, reading chains and their heads.

Entries are staged in the caller's transaction and appended to their chain when it commits (`audit_flush`, under
the chain's advisory lock): a rolled-back transaction leaves no entry, a committed one always has its entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cloud_hub.audit.canonical import Entry, parse_detail
from cloud_hub.auth.sessions import ClientInfo
from cloud_hub.auth.users import User

AUTH_CHAIN = "auth"
_TEXT_LIMIT = 200  # usernames typed at a login form and user agents are the client's text: kept short


@dataclass(frozen=True, slots=True)
class Head:
    chain: str
    seq: int
    hash: str
    at: datetime


def record(
    conn: psycopg.Connection,
    chain: str,
    action: str,
    *,
    actor: str | None,
    role: str | None,
    entity: str | None = None,
    entity_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Stage one entry for `chain`; it is appended when the transaction commits (and dropped if it rolls back)."""
    entry = {
        "chain": chain,
        "actor": actor,
        "role": role,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "detail": detail or {},
    }
    conn.execute("SELECT audit_stage(%s)", (Jsonb([entry]),))


def _clip(text: str | None) -> str | None:
    return text[:_TEXT_LIMIT] if text is not None else None


def record_login(conn: psycopg.Connection, user: User, client: ClientInfo) -> None:
    """A successful login, appended with the request's transaction."""
    detail = {"address": client.address, "user_agent": _clip(client.user_agent)}
    record(
        conn,
        AUTH_CHAIN,
        "login",
        actor=user.username,
        role=user.role,
        entity="user",
        entity_id=user.username,
        detail=detail,
    )


def record_failed_login(conn: psycopg.Connection, username: str, client: ClientInfo) -> None:
    """A refused login (unknown user, wrong password or disabled account), COMMITTED here: the 401 that follows
    rolls the request's transaction back. `username` is what was typed, whether or not such a user exists."""
    detail = {"address": client.address, "user_agent": _clip(client.user_agent)}
    record(
        conn,
        AUTH_CHAIN,
        "login_failed",
        actor=_clip(username),
        role=None,
        entity="user",
        entity_id=_clip(username),
        detail=detail,
    )
    conn.commit()


# Distinct chains by skipping along the primary key (chain, seq): one index probe per chain, not a scan of the log.
_CHAINS = """
WITH RECURSIVE c (chain) AS (
    (SELECT chain FROM audit_log ORDER BY chain LIMIT 1)
    UNION ALL
    SELECT (SELECT l.chain FROM audit_log l WHERE l.chain > c.chain ORDER BY l.chain LIMIT 1) FROM c
    WHERE c.chain IS NOT NULL
)
SELECT chain FROM c WHERE chain IS NOT NULL
"""


def chain_names(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute(_CHAINS).fetchall()]


def heads(conn: psycopg.Connection) -> list[Head]:
    """Each chain's latest entry, by chain name."""
    rows = conn.execute(
        f"SELECT h.chain, h.seq, h.hash, h.at FROM ({_CHAINS}) c"
        " CROSS JOIN LATERAL (SELECT l.chain, l.seq, l.hash, l.at FROM audit_log l WHERE l.chain = c.chain"
        " ORDER BY l.seq DESC LIMIT 1) h ORDER BY h.chain"
    ).fetchall()
    return [Head(chain, seq, hash_, at) for chain, seq, hash_, at in rows]


def iter_chain(conn: psycopg.Connection, chain: str, batch: int = 2000) -> Iterator[Entry]:
    """The chain's entries in seq order, streamed (a server-side cursor: needs a transaction, not autocommit).

    `detail` is read as jsonb text and parsed with exact numbers, so the hash is recomputed from what is stored."""
    with conn.cursor(name=f"audit_chain_{abs(hash(chain))}") as cur:
        cur.itersize = batch
        cur.execute(
            "SELECT chain, seq, at, actor, role, action, entity, entity_id, detail::text, prev_hash, hash"
            " FROM audit_log WHERE chain = %s ORDER BY seq",
            (chain,),
        )
        for row in cur:
            yield Entry(*row[:8], parse_detail(row[8]), row[9], row[10])  # type: ignore[misc]
