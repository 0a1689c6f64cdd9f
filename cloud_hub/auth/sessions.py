"""Data access for browser sessions (migration 0010): rotating refresh tokens and login throttling.

Refresh tokens: a login starts a family (a uuid, also the access tokens' `sid` claim) with one opaque token; each
refresh marks the presented token used and issues the next one in the family. A used token presented again was
copied (by whoever holds it now or held it before), so the whole family is revoked: every token of that login and,
through `sid`, its access tokens. Only sha256 hashes of tokens are stored.

Login throttling: failed logins are rows in `login_failures`, counted per username and per client address over a
sliding window, in the database so that every hub replica counts the same failures. An attempt reserves its rows
(as if it failed) under a short advisory lock and the caller commits before the slow password check, so concurrent
guesses on several replicas cannot all pass one count; a successful login takes its rows back.

Every function takes `now` so tests can move the clock; the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import psycopg
from psycopg.rows import dict_row

from cloud_hub.auth.security import hash_refresh_token, new_refresh_token
from cloud_hub.auth.users import User, get_user
from cloud_hub.core.config import HubSettings

# First key of the two-key advisory locks taken while counting login failures ("0010", this migration).
LOGIN_LOCK_CLASS = 10
MAX_KEY_CHARS = 200  # usernames are at most 64; longer input is still counted, under a bounded key
MAX_CLIENT_CHARS = 500  # user agents are stored for the sessions list, not trusted
# A browser that navigates away while its refresh is answered never gets the new cookie and presents the old token
# again. Within this many seconds, and only while the token that refresh issued is still unused, that is a lost
# answer, not a theft: the unused successor is retired and a new one issued. Any later reuse still ends the login.
LOST_ANSWER_GRACE_S = 15

ThrottleScope = Literal["username", "address"]
RefreshProblem = Literal["unknown", "revoked", "reused", "expired", "user_disabled"]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who asked: stored with each refresh token so an admin can tell sessions apart."""

    user_agent: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedRefresh:
    token: str  # the opaque value, handed to the client once and never stored
    family_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Rotated:
    user: User  # as the database says now: the new access token carries the current role
    refresh: IssuedRefresh


@dataclass(frozen=True, slots=True)
class RefreshRefused:
    problem: RefreshProblem
    username: str | None = None


# -- refresh tokens -----------------------------------------------------------------------------------------------


def _insert_token(
    conn: psycopg.Connection, family_id: uuid.UUID, username: str, ttl_s: int, now: datetime, client: ClientInfo
) -> IssuedRefresh:
    token = new_refresh_token()
    expires_at = now + timedelta(seconds=ttl_s)
    conn.execute(
        """
        INSERT INTO refresh_tokens (family_id, username, token_hash, issued_at, expires_at, user_agent, address)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        """,
        (
            family_id,
            username,
            hash_refresh_token(token),
            now,
            expires_at,
            client.user_agent[:MAX_CLIENT_CHARS] if client.user_agent else None,
            client.address,
        ),
    )
    return IssuedRefresh(token=token, family_id=str(family_id), expires_at=expires_at)


def start_session(
    conn: psycopg.Connection, username: str, ttl_s: int, now: datetime, client: ClientInfo
) -> IssuedRefresh:
    """A new family with its first refresh token (at login); the user's long-expired tokens are pruned."""
    # Expired tokens can neither refresh nor prove reuse any more; their access tokens expired long before.
    conn.execute("DELETE FROM refresh_tokens WHERE username = %s AND expires_at < %s", (username, now))
    return _insert_token(conn, uuid.uuid4(), username, ttl_s, now, client)


def rotate_refresh_token(
    conn: psycopg.Connection, token: str, ttl_s: int, now: datetime, client: ClientInfo
) -> Rotated | RefreshRefused:
    """Exchange an unused, unexpired token of a live family for the next one.

    A used token revokes its family (reuse); a disabled or deleted user's family is revoked too. The revocation is
    written in the caller's transaction: commit it even though the answer is a refusal.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        # FOR UPDATE: of two requests racing with one token, the second waits and then sees it used.
        cur.execute(
            "SELECT id, family_id, username, expires_at, used_at, revoked_at FROM refresh_tokens"
            " WHERE token_hash = %s FOR UPDATE",
            (hash_refresh_token(token),),
        )
        row = cur.fetchone()
    if row is None:
        return RefreshRefused("unknown")
    username = row["username"]
    if row["revoked_at"] is not None:
        return RefreshRefused("revoked", username)
    if row["used_at"] is not None and not _lost_answer(conn, row, now):
        revoke_family(conn, row["family_id"], now)
        return RefreshRefused("reused", username)
    if row["expires_at"] <= now:
        return RefreshRefused("expired", username)
    user = get_user(conn, username)
    if user is None or not user.active:
        revoke_family(conn, row["family_id"], now)
        return RefreshRefused("user_disabled", username)
    conn.execute("UPDATE refresh_tokens SET used_at = %s WHERE id = %s", (now, row["id"]))
    return Rotated(user, _insert_token(conn, row["family_id"], username, ttl_s, now, client))


def _lost_answer(conn: psycopg.Connection, row: dict, now: datetime) -> bool:
    """A used token presented again soon after, whose successor nobody has used yet: retire that successor (locked,
    so two such retries cannot both succeed) and let the caller issue a new one."""
    if (now - row["used_at"]).total_seconds() > LOST_ANSWER_GRACE_S:
        return False
    live = conn.execute(
        "SELECT id, issued_at FROM refresh_tokens WHERE family_id = %s AND used_at IS NULL AND revoked_at IS NULL"
        " FOR UPDATE",
        (row["family_id"],),
    ).fetchall()
    if len(live) != 1 or live[0][1] != row["used_at"]:  # not the token this one was exchanged for
        return False
    conn.execute("UPDATE refresh_tokens SET used_at = %s WHERE id = %s", (now, live[0][0]))
    return True


def revoke_family(conn: psycopg.Connection, family_id: uuid.UUID | str, now: datetime) -> int:
    """Revoke every token of a login (idempotent: the first revocation time stays); returns the rows revoked now."""
    cur = conn.execute(
        "UPDATE refresh_tokens SET revoked_at = %s WHERE family_id = %s AND revoked_at IS NULL",
        (now, uuid.UUID(str(family_id))),
    )
    return cur.rowcount


def revoke_session_of_token(conn: psycopg.Connection, token: str, now: datetime) -> str | None:
    """Logout: revoke the family of `token` (used or not); returns the family id, None for an unknown token."""
    found = conn.execute(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = %s", (hash_refresh_token(token),)
    ).fetchone()
    if found is None:
        return None
    revoke_family(conn, found[0], now)
    return str(found[0])


def session_ended(conn: psycopg.Connection, family_id: str) -> bool:
    """Whether the login `family_id` (an access token's `sid`) was logged out or revoked: one partial-index probe."""
    try:
        family = uuid.UUID(family_id)
    except ValueError:
        return True  # never issued by this hub
    found = conn.execute(
        "SELECT 1 FROM refresh_tokens WHERE family_id = %s AND revoked_at IS NOT NULL LIMIT 1", (family,)
    ).fetchone()
    return found is not None


# -- login throttling ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window_s: int = 900
    max_per_username: int = 5
    max_per_address: int = 20

    @classmethod
    def from_settings(cls, settings: HubSettings) -> ThrottlePolicy:
        return cls(
            window_s=settings.login_failure_window_s,
            max_per_username=settings.login_max_failures_per_user,
            max_per_address=settings.login_max_failures_per_address,
        )


@dataclass(frozen=True, slots=True)
class Throttled:
    """One limit that is hit: `max_failures` failures for `key` within the window, until `retry_at`."""

    scope: ThrottleScope
    key: str
    max_failures: int
    retry_at: datetime


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The failure rows an allowed attempt reserved; `login_succeeded` takes them back."""

    username_key: str
    address_row_id: int | None


def _retry_at(
    conn: psycopg.Connection, scope: ThrottleScope, key: str, limit: int, window_s: int, now: datetime
) -> datetime | None:
    # The limit-th newest failure inside the window: while it is in the window the limit is reached, and the
    # counter drops below the limit when it leaves.
    found = conn.execute(
        "SELECT failed_at FROM login_failures WHERE scope = %s AND key = %s AND failed_at > %s"
        " ORDER BY failed_at DESC OFFSET %s LIMIT 1",
        (scope, key, now - timedelta(seconds=window_s), limit - 1),
    ).fetchone()
    return found[0] + timedelta(seconds=window_s) if found else None


def reserve_login_attempt(
    conn: psycopg.Connection, username: str, address: str | None, policy: ThrottlePolicy, now: datetime
) -> LoginAttempt | list[Throttled]:
    """Count the failures of `username` and `address`; over a limit, the limits hit (nothing written), else record
    this attempt as a failure of both and return it. The caller commits at once, before checking the password."""
    counters: list[tuple[ThrottleScope, str, int]] = [("username", username[:MAX_KEY_CHARS], policy.max_per_username)]
    if address:
        counters.append(("address", address[:MAX_KEY_CHARS], policy.max_per_address))
    # Username lock first, then address: every attempt takes them in this order, so two never deadlock.
    for scope, key, _ in counters:
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOGIN_LOCK_CLASS, f"{scope}:{key}"))
    hit: list[Throttled] = []
    for scope, key, limit in counters:
        retry_at = _retry_at(conn, scope, key, limit, policy.window_s, now)
        if retry_at is not None:
            hit.append(Throttled(scope, key, limit, retry_at))
    if hit:
        return hit
    conn.execute("DELETE FROM login_failures WHERE failed_at <= %s", (now - timedelta(seconds=policy.window_s),))
    ids = {
        scope: conn.execute(
            "INSERT INTO login_failures (scope, key, failed_at) VALUES (%s, %s, %s) RETURNING id", (scope, key, now)
        ).fetchone()[0]  # type: ignore[index]
        for scope, key, _ in counters
    }
    return LoginAttempt(username_key=counters[0][1], address_row_id=ids.get("address"))


def login_succeeded(conn: psycopg.Connection, attempt: LoginAttempt) -> None:
    """Clear the username's failures; the attempt's own address row goes too (it was not a failure)."""
    conn.execute("DELETE FROM login_failures WHERE scope = 'username' AND key = %s", (attempt.username_key,))
    if attempt.address_row_id is not None:
        conn.execute("DELETE FROM login_failures WHERE id = %s", (attempt.address_row_id,))
