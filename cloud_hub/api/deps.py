"""FastAPI dependencies shared by every router: settings, database, the logged-in user, roles, devices.

Usage in a route module:

    from cloud_hub.api.deps import ConnDep, CurrentUser, DeviceIdentity, require_roles

    @router.get("/things", operation_id="list_things")
    def list_things(conn: ConnDep, user: CurrentUser) -> ...: ...

    @router.post("/things", dependencies=[Depends(require_roles("admin", "technician"))])
    def create_thing(...): ...

    # or, when the route needs the user too:
    def create_thing(user: Annotated[User, Depends(require_roles("admin"))]): ...

    @router.put("/evidence/{event_id}")
    def put_evidence(device: DeviceIdentity, ...): device.device_id ...

`create_app` puts the settings and the connection pool on `app.state`; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials, HTTPBearer, OAuth2PasswordBearer
from fastapi.security.http import HTTPAuthorizationCredentials
from psycopg_pool import ConnectionPool

from cloud_hub.auth.security import ROLES, TokenError, UserClaims, decode_access_token, decode_device_claims
from cloud_hub.auth.sessions import session_ended
from cloud_hub.auth.users import User, get_user
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import device_access, verify_device_secret

TOKEN_URL = "/api/v1/auth/token"


def _settings(request: Request) -> HubSettings:
    return request.app.state.settings


def _pool(request: Request) -> ConnectionPool:
    pool = getattr(request.app.state, "pool", None)
    if pool is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database not ready yet; retry shortly")
    return pool


SettingsDep = Annotated[HubSettings, Depends(_settings)]
PoolDep = Annotated[ConnectionPool, Depends(_pool)]


def _connection(pool: PoolDep) -> Iterator[psycopg.Connection]:
    # One connection (and one transaction) per request, shared by every dependency of that request;
    # committed when the route returns, rolled back when it raises.
    with pool.connection() as conn:
        yield conn


# scope="function": commit before the response is sent, so a client that got 200 always finds its change
# stored (and a failing commit becomes a 500 instead of a success already sent).
ConnDep = Annotated[psycopg.Connection, Depends(_connection, scope="function")]

# PostgreSQL's bigint: a larger offset failed in the database (500) instead of a 422 naming the parameter.
PG_BIGINT_MAX = 2**63 - 1
Offset = Annotated[int, Query(ge=0, le=PG_BIGINT_MAX)]

_oauth2 = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def authenticate_token(settings: HubSettings, conn: psycopg.Connection, token: str | None) -> tuple[User, UserClaims]:
    """The active user a bearer token belongs to, and its claims; 401 with the reason otherwise (also used by the
    live channel, whose EventSource sends the token as a query parameter)."""
    if not token:
        raise _unauthorized(f"not logged in: send 'Authorization: Bearer <token>' from POST {TOKEN_URL}")
    try:
        claims = decode_access_token(settings, token)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from None
    # The token is short-lived, but a disabled user or a changed role takes effect at once.
    user = get_user(conn, claims.username)
    if user is None or not user.active:
        raise _unauthorized(f"user {claims.username!r} no longer exists or is disabled")
    # Logout and a detected refresh-token reuse end the session at once, not when its access tokens expire.
    # Tokens without `sid` (issued before sessions, or minted by tools) run until they expire.
    if claims.session_id is not None and session_ended(conn, claims.session_id):
        raise _unauthorized("session ended (logged out or revoked); log in again")
    return user, claims


def _current_user(settings: SettingsDep, conn: ConnDep, token: Annotated[str | None, Depends(_oauth2)]) -> User:
    return authenticate_token(settings, conn, token)[0]


CurrentUser = Annotated[User, Depends(_current_user)]


def require_roles(*roles: str) -> Callable[[User], User]:
    """Dependency that returns the current user when their role is one of `roles`, else 403."""
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise ValueError(f"require_roles needs roles from {', '.join(ROLES)}; got {roles!r}")

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {user.role!r} may not do this; allowed: {', '.join(roles)}"
            )
        return user

    return check


@dataclass(frozen=True, slots=True)
class Device:
    """A device authenticated by its credentials (never a user)."""

    device_id: str


_basic = HTTPBasic(auto_error=False)
_bearer = HTTPBearer(auto_error=False)


def authenticate_device_token(settings: HubSettings, conn: psycopg.Connection, token: str) -> Device:
    """A device bearer token that is still good: signed, unexpired, of the device's current provisioning (a token
    without a generation only while the device was never re-provisioned), and the device not retired."""

    def refused(why: str) -> HTTPException:
        return HTTPException(
            status.HTTP_401_UNAUTHORIZED, f"device token refused: {why}", headers={"WWW-Authenticate": "Bearer"}
        )

    try:
        claims = decode_device_claims(settings, token)
    except TokenError as exc:
        raise refused(str(exc)) from None
    access = device_access(conn, claims.device_id)
    if access is None:
        raise refused(f"device {claims.device_id!r} is not provisioned")
    if access.retired_at is not None:
        raise refused(f"device {claims.device_id!r} was retired at {access.retired_at.isoformat()}")
    if (claims.generation or 1) != access.generation:
        raise refused(f"device {claims.device_id!r} was provisioned again since this token was issued")
    return Device(claims.device_id)


def _device(
    settings: SettingsDep,
    conn: ConnDep,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Device:
    """HTTP Basic with device_id and device secret, or a bearer device token issued at provisioning."""
    if basic is not None:
        if basic.username and verify_device_secret(conn, basic.username, basic.password):
            return Device(basic.username)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown device or wrong device secret", headers={"WWW-Authenticate": "Basic"}
        )
    if bearer is not None:
        return authenticate_device_token(settings, conn, bearer.credentials)
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "device credentials required: HTTP Basic device_id:secret or a bearer device token",
        headers={"WWW-Authenticate": "Basic"},
    )


DeviceIdentity = Annotated[Device, Depends(_device)]
