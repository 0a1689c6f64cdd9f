"""Password hashing (argon2), signed tokens (JWT HS256) for users and devices, and opaque refresh tokens.

Pure functions over the settings passed in: no database, no globals other than the hasher.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloud_hub.core.config import HubSettings

ALGORITHM = "HS256"
Role = Literal["admin", "commander", "officer", "technician"]
ROLES: tuple[str, ...] = ("admin", "commander", "officer", "technician")
USER_TOKEN = "user"
DEVICE_TOKEN = "device"
DEVICE_TOKEN_TTL_S = 365 * 24 * 3600
REFRESH_TOKEN_BYTES = 32

_hasher = PasswordHasher()


class TokenError(ValueError):
    """A token that is malformed, expired, badly signed or of the wrong type; the message says which."""


@dataclass(frozen=True, slots=True)
class UserClaims:
    username: str
    role: str
    expires_at: datetime
    session_id: str | None = None  # the login's refresh-token family (`sid`); None in tokens issued before sessions


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the user does not exist, so a login for an unknown name costs the same time
    # as one for a known name and response timing does not reveal which usernames exist.
    return _hasher.hash("cityops-dummy-password-for-timing")


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Check `password` against `password_hash` (None: the user does not exist).

    Returns `(ok, new_hash)`; `new_hash` is set when the stored hash uses outdated parameters and should be
    replaced (argon2 `check_needs_rehash`), so parameters can be raised without forcing password resets.
    """
    if password_hash is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return False, None
    try:
        _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None)


def _secret(settings: HubSettings) -> str:
    return settings.jwt_secret.get_secret_value()


def create_access_token(
    settings: HubSettings, username: str, role: str, now: datetime | None = None, session_id: str | None = None
) -> str:
    """A short-lived user token (`settings.jwt_ttl_s`) carrying the username (`sub`), role and session (`sid`)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    issued = now or datetime.now(UTC)
    claims = {
        "sub": username,
        "role": role,
        "typ": USER_TOKEN,
        "iat": issued,
        "exp": issued + timedelta(seconds=settings.jwt_ttl_s),
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, _secret(settings), algorithm=ALGORITHM)


def new_refresh_token() -> str:
    """An opaque refresh token (256 random bits, URL-safe); only its hash is stored."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> bytes:
    # A plain sha256 suffices: the token is 256 random bits, so there is nothing to guess or look up in a table.
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class DeviceClaims:
    device_id: str
    generation: int | None  # the device's provisioning count when the token was issued (None: older tokens)


def create_device_token(
    settings: HubSettings, device_id: str, generation: int | None = None, ttl_s: int = DEVICE_TOKEN_TTL_S
) -> str:
    """A bearer token a device may use instead of HTTP Basic (issued at provisioning). `generation` binds it to that
    provisioning: re-provisioning or retiring the device makes it worthless at once (checked per request)."""
    issued = datetime.now(UTC)
    claims: dict = {"sub": device_id, "typ": DEVICE_TOKEN, "iat": issued, "exp": issued + timedelta(seconds=ttl_s)}
    if generation is not None:
        claims["gen"] = generation
    return jwt.encode(claims, _secret(settings), algorithm=ALGORITHM)


def _decode(settings: HubSettings, token: str, expected_type: str) -> dict:
    try:
        claims = jwt.decode(
            token, _secret(settings), algorithms=[ALGORITHM], options={"require": ["sub", "exp", "typ"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired; log in again") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    # A device token must never pass as a user token and vice versa.
    if claims.get("typ") != expected_type:
        raise TokenError(f"not a {expected_type} token")
    return claims


def decode_access_token(settings: HubSettings, token: str) -> UserClaims:
    claims = _decode(settings, token, USER_TOKEN)
    role = claims.get("role")
    if role not in ROLES:
        raise TokenError(f"token carries unknown role {role!r}")
    sid = claims.get("sid")
    return UserClaims(
        username=str(claims["sub"]),
        role=str(role),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        session_id=str(sid) if sid is not None else None,
    )


def decode_device_claims(settings: HubSettings, token: str) -> DeviceClaims:
    claims = _decode(settings, token, DEVICE_TOKEN)
    generation = claims.get("gen")
    return DeviceClaims(str(claims["sub"]), generation if isinstance(generation, int) else None)


def decode_device_token(settings: HubSettings, token: str) -> str:
    """The device id a device token was issued to (signature and expiry only: see deps.authenticate_device)."""
    return decode_device_claims(settings, token).device_id
