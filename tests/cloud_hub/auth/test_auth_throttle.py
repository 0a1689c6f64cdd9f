"""Failed-login limits per username and per client address, counted in the database; the password check inside."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud_hub.auth.security import verify_password
from cloud_hub.auth.sessions import LoginAttempt, Throttled, ThrottlePolicy, login_succeeded, reserve_login_attempt
from cloud_hub.auth.users import create_or_update_user
from cloud_hub.seed.demo import DEMO_PASSWORD

TOKEN_URL = "/api/v1/auth/token"


def attempt(client: TestClient, username: str, password: str = "wrong-password") -> int:
    return client.post(TOKEN_URL, data={"username": username, "password": password}).status_code


def test_five_failures_lock_the_username(client: TestClient, hub: FastAPI) -> None:
    assert [attempt(client, "officer4") for _ in range(5)] == [401] * 5
    locked = client.post(TOKEN_URL, data={"username": "officer4", "password": DEMO_PASSWORD})
    assert locked.status_code == 429  # even the right password waits: no guessing past the limit
    detail = locked.json()["detail"]
    assert "5 failed logins for user 'officer4' within 15 minutes" in detail and "try again in" in detail
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    # The limit is per username: from elsewhere too, and other users from here are not affected.
    elsewhere = TestClient(hub, client=("198.51.100.7", 40000))
    assert attempt(elsewhere, "officer4", DEMO_PASSWORD) == 429
    assert attempt(client, "officer5", DEMO_PASSWORD) == 200


def test_unknown_usernames_are_counted_alike(client: TestClient) -> None:
    assert [attempt(client, "nobody-here") for _ in range(6)] == [401] * 5 + [429]


def test_a_successful_login_clears_the_username_counter(client: TestClient) -> None:
    assert [attempt(client, "officer6") for _ in range(4)] == [401] * 4
    assert attempt(client, "officer6", DEMO_PASSWORD) == 200
    assert [attempt(client, "officer6") for _ in range(5)] == [401] * 5
    assert attempt(client, "officer6") == 429


def test_twenty_failures_lock_the_address(client: TestClient, hub: FastAPI) -> None:
    assert {attempt(client, f"sprayed{n}") for n in range(20)} == {401}
    locked = client.post(TOKEN_URL, data={"username": "officer1", "password": DEMO_PASSWORD})
    assert locked.status_code == 429
    assert "20 failed logins from address testclient" in locked.json()["detail"]
    assert int(locked.headers["Retry-After"]) > 0
    assert attempt(TestClient(hub, client=("203.0.113.9", 40000)), "officer1", DEMO_PASSWORD) == 200


def test_the_window_slides(database_url: str) -> None:
    policy = ThrottlePolicy(window_s=900, max_per_username=2, max_per_address=100)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM login_failures")
        assert isinstance(reserve_login_attempt(conn, "slider", "192.0.2.1", policy, start), LoginAttempt)
        later = start + timedelta(minutes=10)
        assert isinstance(reserve_login_attempt(conn, "slider", "192.0.2.1", policy, later), LoginAttempt)
        hit = reserve_login_attempt(conn, "slider", "192.0.2.2", policy, later + timedelta(minutes=1))
        assert hit == [Throttled("username", "slider", 2, start + timedelta(minutes=15))]
        # The first failure leaves the window at start + 15 min; the second still counts, so one more is allowed.
        allowed = reserve_login_attempt(conn, "slider", "192.0.2.2", policy, start + timedelta(minutes=16))
        assert isinstance(allowed, LoginAttempt)
        assert reserve_login_attempt(conn, "slider", "192.0.2.2", policy, start + timedelta(minutes=17)) == [
            Throttled("username", "slider", 2, later + timedelta(minutes=15))
        ]
        login_succeeded(conn, allowed)
        rows = conn.execute("SELECT scope, key FROM login_failures ORDER BY id").fetchall()
        # The username's counter is gone; the address row of the earlier failure still in the window stays, the
        # success's own address row does not (the failure at `start` was pruned once out of the window).
        assert rows == [("address", "192.0.2.1")]
        conn.rollback()


def test_parallel_guesses_cannot_pass_one_count(client: TestClient, hub: FastAPI) -> None:
    # Each attempt is counted (and committed) before its password is checked, so guesses racing on several
    # connections (as on several replicas) get no more tries than guesses made one after another.
    def guess(n: int) -> int:
        return attempt(TestClient(hub, client=(f"192.0.2.{n}", 40000)), "racer")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = sorted(pool.map(guess, range(12)))
    assert answers == [401] * 5 + [429] * 7


def test_login_still_rehashes_outdated_password_hashes(client: TestClient, database_url: str) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash("old-params-pw")
    with psycopg.connect(database_url) as conn:
        create_or_update_user(conn, "oldtimer", "placeholder", "officer")
        conn.execute("UPDATE users SET password_hash = %s WHERE username = 'oldtimer'", (weak,))
    assert attempt(client, "oldtimer", "old-params-pw") == 200
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE username = 'oldtimer'").fetchone()[0]
    assert stored != weak and verify_password("old-params-pw", stored) == (True, None)
