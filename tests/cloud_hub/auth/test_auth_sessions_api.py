"""Login, refresh with rotation and reuse detection, logout, the cookie and its CSRF guard, /me (real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from cloud_hub.auth.security import create_access_token, decode_access_token, hash_refresh_token
from cloud_hub.auth.sessions import ClientInfo, start_session
from cloud_hub.auth.users import create_or_update_user
from cloud_hub.core.config import HubSettings
from cloud_hub.seed.demo import DEMO_PASSWORD

COOKIE = "cityops_refresh"
CSRF = {"X-Requested-With": "cityops"}


def login(client: TestClient, username: str = "officer1", password: str = DEMO_PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(body: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


def set_cookie_header(response: Response) -> str:
    cookies = [value for key, value in response.headers.multi_items() if key == "set-cookie"]
    assert len(cookies) == 1, cookies
    return cookies[0]


def test_login_answers_a_refresh_token_in_body_and_cookie(client: TestClient, settings: HubSettings) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "officer1", "password": DEMO_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "role", "refresh_token", "refresh_expires_in"}
    assert body["expires_in"] == settings.jwt_ttl_s == 900
    assert body["refresh_expires_in"] == settings.refresh_ttl_s == 30 * 24 * 3600
    cookie = set_cookie_header(response)
    assert cookie.startswith(f"{COOKIE}={body['refresh_token']};")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/api/v1/auth", f"max-age={settings.refresh_ttl_s}"} <= flags
    assert "secure" not in flags  # plain http (a development hub)
    assert response.headers["cache-control"] == "no-store"
    claims = decode_access_token(settings, body["access_token"])
    assert claims.username == "officer1" and claims.session_id is not None


def test_cookie_is_secure_over_https(hub: FastAPI) -> None:
    response = TestClient(hub, base_url="https://testserver").post(
        "/api/v1/auth/token", data={"username": "officer2", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200
    assert "secure" in {part.strip().lower() for part in set_cookie_header(response).split(";")}


def test_refresh_rotates_and_reuse_revokes_the_family(
    client: TestClient, settings: HubSettings, database_url: str
) -> None:
    first = login(client)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"] and pair["role"] == "officer"
    assert set_cookie_header(second).startswith(f"{COOKIE}={pair['refresh_token']};")
    sid = decode_access_token(settings, pair["access_token"]).session_id
    assert sid == decode_access_token(settings, first["access_token"]).session_id
    assert client.get("/api/v1/auth/me", headers=bearer(pair)).status_code == 200
    third = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()

    # The first token again: somebody holds a copy. The whole login ends, including the newest pair.
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert "session revoked because a refresh token was reused" in reused.json()["detail"]
    assert f'{COOKIE}=""' in set_cookie_header(reused)  # the browser drops it
    newest = client.post("/api/v1/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert newest.status_code == 401 and newest.json()["detail"].startswith("session ended")
    for access in (first, pair, third):
        ended = client.get("/api/v1/auth/me", headers=bearer(access))
        assert ended.status_code == 401 and ended.json()["detail"].startswith("session ended")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT token_hash, used_at IS NOT NULL, revoked_at IS NOT NULL, address FROM refresh_tokens"
            " WHERE family_id = %s ORDER BY id",
            (sid,),
        ).fetchall()
    assert [(used, revoked) for _, used, revoked, _ in rows] == [(True, True), (True, True), (False, True)]
    assert rows[0][0] == hash_refresh_token(first["refresh_token"])  # only hashes are stored
    assert {address for *_, address in rows} == {"testclient"}

    # Another login of the same user is another family and unaffected.
    other = login(client)
    assert client.get("/api/v1/auth/me", headers=bearer(other)).status_code == 200


def test_refresh_from_the_cookie_needs_the_csrf_header(client: TestClient) -> None:
    first = login(client)  # the client keeps the cookie (Path=/api/v1/auth)
    refused = client.post("/api/v1/auth/refresh")
    assert refused.status_code == 403
    assert "X-Requested-With: cityops" in refused.json()["detail"] and "CSRF" in refused.json()["detail"]
    refreshed = client.post("/api/v1/auth/refresh", headers=CSRF)
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert client.cookies[COOKIE] == body["refresh_token"]  # rotated cookie
    again = client.post("/api/v1/auth/refresh", headers=CSRF)
    assert again.status_code == 200 and again.json()["refresh_token"] == client.cookies[COOKIE]


def test_refresh_refusals_say_why(client: TestClient, settings: HubSettings, database_url: str) -> None:
    missing = client.post("/api/v1/auth/refresh")
    assert missing.status_code == 401 and "no refresh token" in missing.json()["detail"]
    unknown = client.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-token"})
    assert unknown.status_code == 401 and "unknown refresh token" in unknown.json()["detail"]
    empty = client.post("/api/v1/auth/refresh", json={"refresh_token": ""})
    assert empty.status_code == 422 and "refresh_token" in empty.text
    with psycopg.connect(database_url) as conn:
        old = start_session(
            conn, "officer3", settings.refresh_ttl_s, datetime.now(UTC) - timedelta(days=31), ClientInfo()
        )
    expired = client.post("/api/v1/auth/refresh", json={"refresh_token": old.token})
    assert expired.status_code == 401 and "refresh token expired" in expired.json()["detail"]


def test_a_disabled_user_cannot_refresh(client: TestClient, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        create_or_update_user(conn, "leaver", "leaver-pw", "officer")
    session = login(client, "leaver", "leaver-pw")
    with psycopg.connect(database_url) as conn:
        create_or_update_user(conn, "leaver", "leaver-pw", "officer", active=False)
    refused = client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refused.status_code == 401 and "'leaver' no longer exists or is disabled" in refused.json()["detail"]
    with psycopg.connect(database_url) as conn:
        create_or_update_user(conn, "leaver", "leaver-pw", "officer", active=True)
    # Enabled again, the old session stays revoked: a new login is needed.
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert again.status_code == 401 and again.json()["detail"].startswith("session ended")


def test_logout_ends_the_session_and_clears_the_cookie(client: TestClient) -> None:
    session = login(client)
    assert client.post("/api/v1/auth/logout").status_code == 403  # cookie without the CSRF header
    assert client.get("/api/v1/auth/me", headers=bearer(session)).status_code == 200
    out = client.post("/api/v1/auth/logout", headers=CSRF)
    assert out.status_code == 204
    assert f'{COOKIE}=""' in set_cookie_header(out) and "max-age=0" in set_cookie_header(out).lower()
    assert COOKIE not in client.cookies
    ended = client.get("/api/v1/auth/me", headers=bearer(session))
    assert ended.status_code == 401 and ended.json()["detail"].startswith("session ended")
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 401 and refresh.json()["detail"].startswith("session ended")
    missing = client.post("/api/v1/auth/logout")
    assert missing.status_code == 422 and "no refresh token" in missing.json()["detail"]

    by_body = login(client, "officer2")
    client.cookies.clear()
    assert client.post("/api/v1/auth/logout", json={"refresh_token": by_body["refresh_token"]}).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(by_body)).status_code == 401
    # Logging out twice, or with a token never issued, is no error.
    assert client.post("/api/v1/auth/logout", json={"refresh_token": by_body["refresh_token"]}).status_code == 204
    assert client.post("/api/v1/auth/logout", json={"refresh_token": "never-issued"}).status_code == 204


def test_access_tokens_without_a_session_still_work(client: TestClient, settings: HubSettings) -> None:
    token = create_access_token(settings, "officer1", "officer")  # as issued before sessions existed
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_me_lists_districts_and_grids(client: TestClient, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO user_districts (username, district_id) VALUES ('commander1', 'nj-gulou')")
    commander = client.get("/api/v1/auth/me", headers=bearer(login(client, "commander1"))).json()
    assert commander["role"] == "commander" and commander["districts"] == ["nj-gulou"]
    assert commander["grids"] == [f"nj-gulou-0{n}" for n in range(1, 7)]  # supervisor of the demo grids
    officer = client.get("/api/v1/auth/me", headers=bearer(login(client, "officer1"))).json()
    assert (officer["districts"], officer["grids"]) == ([], ["nj-gulou-01"])
    admin = client.get("/api/v1/auth/me", headers=bearer(login(client, "admin", "admin-test-pw"))).json()
    assert admin == {
        "username": "admin",
        "role": "admin",
        "display_name": "Administrator",
        "districts": [],
        "grids": [],
    }


def test_openapi_names_the_session_operations(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/auth/token"]["post"]["operationId"] == "login_for_token"
    assert paths["/api/v1/auth/refresh"]["post"]["operationId"] == "refresh_token"
    assert paths["/api/v1/auth/logout"]["post"]["operationId"] == "logout"
    token_schema = paths["/api/v1/auth/refresh"]["post"]["responses"]["200"]["content"]["application/json"]
    assert token_schema["schema"]["$ref"].endswith("/Token")


def test_a_refresh_answer_lost_on_the_way_is_not_taken_for_theft(client: TestClient, database_url: str) -> None:
    """The browser navigated away while its refresh was answered: it never got the new token and presents the old
    one again at once. That is allowed while the lost token is unused; later, the same reuse ends the login."""
    first = login(client)
    lost = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
    retry = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert retry.status_code == 200, retry.text
    again = retry.json()
    assert again["refresh_token"] not in (first["refresh_token"], lost["refresh_token"])
    assert client.get("/api/v1/auth/me", headers=bearer(again)).status_code == 200
    moved_on = client.post("/api/v1/auth/refresh", json={"refresh_token": again["refresh_token"]})
    assert moved_on.status_code == 200  # the session goes on
    # Once the successor has been used, the old token again is a theft: the login ends.
    stolen = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401 and "reused" in stolen.json()["detail"]
    # And long after (past the grace), a reuse ends the login even if the successor is unused.
    fresh = login(client)
    client.post("/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE refresh_tokens SET used_at = used_at - interval '1 minute' WHERE token_hash = %s",
            (hash_refresh_token(fresh["refresh_token"]),),
        )
    late = client.post("/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert late.status_code == 401 and "reused" in late.json()["detail"]
