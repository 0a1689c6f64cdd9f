"""Data access for hotline clients (table `report_clients`, migration 0016): the systems allowed to file citizens'
reports. Each has one opaque bearer token, issued by an administrator and shown once; the hub keeps its sha256.

Why not a user with a role: a case system is not a person who logs in; a long-lived token scoped to two routes
(file a report, follow its own cases) that an admin can rotate or revoke on its own is the smaller surface."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import psycopg
from psycopg.rows import dict_row

TOKEN_PREFIX = "cityops_rc_"  # recognisable in logs and by secret scanners
_COLUMNS = "client_id, name, active, created_by, created_at, token_issued_at, revoked_at, last_used_at"


def new_token() -> tuple[str, bytes]:
    """A fresh token (256 random bits) and the sha256 the hub stores."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_client(conn: psycopg.Connection, client_id: str, name: str, actor: str) -> tuple[dict[str, Any], str] | None:
    """(the new client, its token), or None when the id is taken."""
    token, digest = new_token()
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"INSERT INTO report_clients (client_id, name, token_sha256, created_by) VALUES (%s, %s, %s, %s)"
            f" ON CONFLICT (client_id) DO NOTHING RETURNING {_COLUMNS}",
            (client_id, name, digest, actor),
        ).fetchone()
    return (row, token) if row else None


def rotate_token(conn: psycopg.Connection, client_id: str) -> tuple[dict[str, Any], str] | None:
    """A new token for the client (the old one stops working at once; a revoked client is active again)."""
    token, digest = new_token()
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"UPDATE report_clients SET token_sha256 = %s, token_issued_at = now(), active = true, revoked_at = NULL"
            f" WHERE client_id = %s RETURNING {_COLUMNS}",
            (digest, client_id),
        ).fetchone()
    return (row, token) if row else None


def revoke(conn: psycopg.Connection, client_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"UPDATE report_clients SET active = false, revoked_at = coalesce(revoked_at, now())"
            f" WHERE client_id = %s RETURNING {_COLUMNS}",
            (client_id,),
        ).fetchone()


def get_client(conn: psycopg.Connection, client_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM report_clients WHERE client_id = %s", (client_id,)).fetchone()


def list_clients(conn: psycopg.Connection, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM report_clients ORDER BY client_id LIMIT %s OFFSET %s", (limit, offset)
        ).fetchall()
        total = cur.execute("SELECT count(*) AS n FROM report_clients").fetchone()
    return rows, int(total["n"]) if total else 0


def authenticate(conn: psycopg.Connection, token: str) -> str | None:
    """The id of the active client holding `token`, or None. `last_used_at` is refreshed at most every ten minutes:
    a write per request would queue concurrent reports of one client behind each other's row lock."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(
        "SELECT client_id, last_used_at IS NULL OR last_used_at < now() - interval '10 minutes'"
        " FROM report_clients WHERE token_sha256 = %s AND active",
        (token_hash(token),),
    ).fetchone()
    if row is None:
        return None
    if row[1]:
        conn.execute("UPDATE report_clients SET last_used_at = now() WHERE client_id = %s", (row[0],))
    return row[0]
