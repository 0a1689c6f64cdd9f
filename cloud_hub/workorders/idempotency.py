"""Idempotent requests (table `idempotency_keys`, migration 0012): the officer app queues actions while offline
and sends each again until it gets an answer, with the same `Idempotency-Key` header every time.

The first request with a key claims it (a row per user and key, inserted in the request's transaction) and stores
its outcome, status code and body, before it commits. A retry with the same key and the same request (method,
path, sha256 of the body) gets that stored outcome and acts no second time; the same key with another request is
refused (`KeyReused`, HTTP 422). Two copies racing: the second one's claim waits on the first one's uncommitted
row and then reads its stored outcome (or, had the first failed and rolled back, acts itself). Outcomes the action
refuses (`Refused`: 403, 404, 409, 422) are stored too; failures of the server (exceptions) store nothing, so a
retry acts again. Keys expire after `KEY_TTL`; `prune_idempotency_keys` removes them (for the scheduler).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

KEY_TTL = timedelta(days=7)
KEY_MAX_LENGTH = 200


class KeyReused(ValueError):
    """The key was first used for another request (HTTP 422); the message names the key."""


class Refused(Exception):
    """The action refuses the request with `status_code` and `detail`; stored as the key's outcome."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class RequestPrint:
    method: str
    path: str
    body_sha256: str

    @classmethod
    def of(cls, method: str, path: str, body: Any) -> RequestPrint:
        """`body`: bytes as sent, or a JSON-able value hashed in a canonical form (sorted keys), so a retry that
        serialises the same body differently still matches."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        return cls(method.upper(), path, hashlib.sha256(raw).hexdigest())


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: Any  # JSON-able


def claim(conn: psycopg.Connection, username: str, key: str, request: RequestPrint, now: datetime) -> Answer | None:
    """None when this request now owns the key (act, then `record`); the stored answer when it was used before for
    the same request. Raises KeyReused when it was used for another one. An expired key counts as new."""
    params = {
        "u": username,
        "k": key,
        "m": request.method,
        "p": request.path,
        "b": request.body_sha256,
        "now": now,
        "expired": now - KEY_TTL,
    }
    owned = conn.execute(
        "INSERT INTO idempotency_keys (username, key, method, path, body_sha256, created_at)"
        " VALUES (%(u)s, %(k)s, %(m)s, %(p)s, %(b)s, %(now)s)"
        " ON CONFLICT (username, key) DO UPDATE SET method = excluded.method, path = excluded.path,"
        "   body_sha256 = excluded.body_sha256, status_code = NULL, body = NULL, created_at = excluded.created_at"
        " WHERE idempotency_keys.created_at < %(expired)s"
        " RETURNING 1",
        params,
    ).fetchone()
    if owned is not None:
        return None
    row = conn.execute(
        "SELECT method, path, body_sha256, status_code, body FROM idempotency_keys WHERE username = %s AND key = %s",
        (username, key),
    ).fetchone()
    assert row is not None  # the conflicting row is committed (ON CONFLICT waited for it) and not expired
    method, path, body_sha256, status_code, body = row
    if (method, path, body_sha256) != (request.method, request.path, request.body_sha256):
        same_target = (method, path) == (request.method, request.path)
        raise KeyReused(
            f"Idempotency-Key {key!r} was already used for {method} {path}"
            f"{' with a different body' if same_target else ''}; send a new key for a new request"
        )
    return Answer(status_code, body)


def record(conn: psycopg.Connection, username: str, key: str, answer: Answer) -> None:
    conn.execute(
        "UPDATE idempotency_keys SET status_code = %s, body = %s WHERE username = %s AND key = %s",
        (answer.status_code, Jsonb(answer.body), username, key),
    )


def run_once(
    conn: psycopg.Connection,
    username: str,
    key: str,
    request: RequestPrint,
    act: Callable[[], Answer],
    now: datetime,
) -> tuple[Answer, bool]:
    """(the answer, whether it is a replay). `act` runs in a savepoint: when it raises Refused its changes are
    undone and the refusal is stored as the answer. Inside the caller's transaction, which must commit after."""
    stored = claim(conn, username, key, request, now)
    if stored is not None:
        return stored, True
    try:
        with conn.transaction():
            answer = act()
    except Refused as exc:
        answer = Answer(exc.status_code, {"detail": exc.detail})
    record(conn, username, key, answer)
    return answer, False


def prune_idempotency_keys(conn: psycopg.Connection, now: datetime, ttl: timedelta = KEY_TTL) -> int:
    """Delete keys older than `ttl`; returns how many went."""
    return conn.execute("DELETE FROM idempotency_keys WHERE created_at < %s", (now - ttl,)).rowcount
