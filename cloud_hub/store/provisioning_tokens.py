"""Data access for one-time provisioning tokens (migration 0022).

A token is random and URL-safe; only its sha256 is stored (a high-entropy token needs no slow hash). Redeeming is
a single conditional UPDATE, so two concurrent redeems cannot both win: the second waits on the row lock and then
finds `used_at` set. It runs in the caller's transaction, so a failed provisioning after it leaves the token
unused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg

TOKEN_BYTES = 24


class TokenRefused(ValueError):
    """The token cannot be redeemed; `reason` is unknown, used or expired and the message says when."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    device_id: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: psycopg.Connection, device_id: str, actor: str, ttl_s: int) -> IssuedToken:
    """A new token for `device_id` valid for `ttl_s` seconds from the database's clock (one clock for all replicas)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = conn.execute(
        "INSERT INTO provisioning_tokens (token_hash, device_id, created_by, expires_at)"
        " VALUES (%s, %s, %s, now() + make_interval(secs => %s)) RETURNING expires_at",
        (token_hash(token), device_id, actor, ttl_s),
    ).fetchone()
    assert row is not None
    return IssuedToken(token, device_id, row[0])


def redeem_token(conn: psycopg.Connection, token: str) -> tuple[str, str]:
    """Mark the token used and return (device id, who created it); TokenRefused when unknown, used or expired."""
    digest = token_hash(token)
    row = conn.execute(
        "UPDATE provisioning_tokens SET used_at = now()"
        " WHERE token_hash = %s AND used_at IS NULL AND expires_at > now() RETURNING device_id, created_by",
        (digest,),
    ).fetchone()
    if row is not None:
        return str(row[0]), str(row[1])
    seen = conn.execute(
        "SELECT used_at, expires_at FROM provisioning_tokens WHERE token_hash = %s", (digest,)
    ).fetchone()
    if seen is None:
        raise TokenRefused("unknown", "unknown provisioning token: ask the technician for a new one")
    used_at, expires_at = seen
    if used_at is not None:
        raise TokenRefused("used", f"provisioning token already used at {used_at.isoformat()}; create a new one")
    raise TokenRefused("expired", f"provisioning token expired at {expires_at.isoformat()}; create a new one")
