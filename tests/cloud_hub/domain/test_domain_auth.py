"""Tokens, password hashing and the API's device and role dependencies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from cloud_hub.api.deps import DeviceIdentity, require_roles
from cloud_hub.auth.security import (
    TokenError,
    create_access_token,
    create_device_token,
    decode_access_token,
    decode_device_token,
    hash_password,
    verify_password,
)
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import provision_device

SETTINGS = HubSettings(jwt_secret=SecretStr("unit-test-secret-0123456789abcdef"), jwt_ttl_s=60)


def test_access_token_round_trip() -> None:
    claims = decode_access_token(SETTINGS, create_access_token(SETTINGS, "officer1", "officer"))
    assert (claims.username, claims.role) == ("officer1", "officer")


def test_expired_and_foreign_tokens_are_refused() -> None:
    old = create_access_token(SETTINGS, "officer1", "officer", now=datetime.now(UTC) - timedelta(hours=2))
    with pytest.raises(TokenError, match="expired"):
        decode_access_token(SETTINGS, old)
    other = SETTINGS.model_copy(update={"jwt_secret": SecretStr("another-secret-0123456789abcdef-longer")})
    with pytest.raises(TokenError, match="invalid token"):
        decode_access_token(other, create_access_token(SETTINGS, "officer1", "officer"))
    with pytest.raises(ValueError, match="unknown role"):
        create_access_token(SETTINGS, "x", "superuser")


def test_device_and_user_tokens_cannot_stand_in_for_each_other() -> None:
    device_token = create_device_token(SETTINGS, "edge-demo-01")
    assert decode_device_token(SETTINGS, device_token) == "edge-demo-01"
    with pytest.raises(TokenError, match="not a user token"):
        decode_access_token(SETTINGS, device_token)
    with pytest.raises(TokenError, match="not a device token"):
        decode_device_token(SETTINGS, create_access_token(SETTINGS, "admin", "admin"))


def test_password_verification_and_rehash() -> None:
    stored = hash_password("s3cret")
    assert verify_password("s3cret", stored) == (True, None)
    assert verify_password("wrong", stored) == (False, None)
    assert verify_password("anything", None) == (False, None)  # unknown user: dummy check, never ok
    assert verify_password("x", "not-a-hash") == (False, None)
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash("s3cret")
    ok, new_hash = verify_password("s3cret", weak)
    assert ok and new_hash is not None and verify_password("s3cret", new_hash) == (True, None)


def test_require_roles_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="require_roles"):
        require_roles("boss")
    with pytest.raises(ValueError):
        require_roles()


class _NoBroker:
    def provision_device(self, device_id: str, password: str) -> None:
        """The broker is not part of this test; credentials are checked against the database."""


@pytest.fixture(scope="module")
def device_client(database_url: str) -> Iterator[tuple[TestClient, str]]:
    with psycopg.connect(database_url) as conn:
        secret = provision_device(conn, _NoBroker(), "edge-auth-01", "edge")
    app = FastAPI()
    app.state.settings = SETTINGS

    @app.get("/whoami")
    def whoami(device: DeviceIdentity) -> dict[str, str]:
        return {"device_id": device.device_id}

    with ConnectionPool(database_url, min_size=1, max_size=2, kwargs={"autocommit": False}) as pool:
        app.state.pool = pool
        yield TestClient(app), secret


def test_device_identity(device_client: tuple[TestClient, str]) -> None:
    client, secret = device_client
    assert client.get("/whoami", auth=("edge-auth-01", secret)).json() == {"device_id": "edge-auth-01"}
    wrong = client.get("/whoami", auth=("edge-auth-01", secret + "x"))
    assert wrong.status_code == 401 and "device secret" in wrong.json()["detail"]
    assert client.get("/whoami", auth=("edge-nobody", secret)).status_code == 401
    bearer = {"Authorization": f"Bearer {create_device_token(SETTINGS, 'edge-auth-01')}"}
    assert client.get("/whoami", headers=bearer).json() == {"device_id": "edge-auth-01"}
    user_token = {"Authorization": f"Bearer {create_access_token(SETTINGS, 'admin', 'admin')}"}
    assert client.get("/whoami", headers=user_token).status_code == 401
    missing = client.get("/whoami")
    assert missing.status_code == 401 and "device credentials required" in missing.json()["detail"]
