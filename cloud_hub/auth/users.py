"""Data access for users (table `users`, migration 0002) and the login check."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from cloud_hub.auth.security import ROLES, hash_password, verify_password


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    display_name: str | None = None
    active: bool = True


def _user(row: dict) -> User:
    return User(username=row["username"], role=row["role"], display_name=row["display_name"], active=row["active"])


def get_user(conn: psycopg.Connection, username: str) -> User | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT username, role, display_name, active FROM users WHERE username = %s", (username,))
        row = cur.fetchone()
    return _user(row) if row else None


def create_or_update_user(
    conn: psycopg.Connection,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    active: bool = True,
) -> User:
    """Insert the user or overwrite password, role, name and active flag of an existing one."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} for user {username!r}; one of {', '.join(ROLES)}")
    if not username or len(username) > 64:
        raise ValueError("username must be 1-64 characters")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            INSERT INTO users (username, password_hash, role, display_name, active)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (username) DO UPDATE SET
                password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,
                display_name = COALESCE(EXCLUDED.display_name, users.display_name),
                active = EXCLUDED.active, updated_at = now()
            RETURNING username, role, display_name, active
            """,
            (username, hash_password(password), role, display_name, active),
        )
        row = cur.fetchone()
    assert row is not None
    return _user(row)


def ensure_user(
    conn: psycopg.Connection, username: str, password: str, role: str, display_name: str | None = None
) -> User:
    """Create the user, or update role and name while keeping a password hash that still matches `password`.

    Used at every start for the admin and the demo logins: re-hashing each time would be slow and pointless.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT password_hash, role, display_name, active FROM users WHERE username = %s", (username,))
        row = cur.fetchone()
    if row is not None:
        ok, _ = verify_password(password, row["password_hash"])
        same_name = display_name is None or row["display_name"] == display_name
        if ok and row["role"] == role and row["active"] and same_name:
            return User(username=username, role=role, display_name=row["display_name"], active=True)
    return create_or_update_user(conn, username, password, role, display_name)


def authenticate(conn: psycopg.Connection, username: str, password: str) -> User | None:
    """The active user whose password matches, else None (same cost whether or not the user exists)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT username, role, display_name, active, password_hash FROM users WHERE username = %s", (username,)
        )
        row = cur.fetchone()
    ok, new_hash = verify_password(password, row["password_hash"] if row else None)
    if not ok or row is None or not row["active"]:
        return None
    if new_hash is not None:
        conn.execute(
            "UPDATE users SET password_hash = %s, updated_at = now() WHERE username = %s", (new_hash, username)
        )
    return _user(row)


def list_users(conn: psycopg.Connection, role: str | None = None) -> list[User]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT username, role, display_name, active FROM users WHERE %(role)s::text IS NULL OR role = %(role)s"
            " ORDER BY username",
            {"role": role},
        )
        return [_user(row) for row in cur.fetchall()]
