"""Sessions of people: login (OAuth2 password form), refresh, logout, and who am I.

Access tokens live `CITYOPS_JWT_TTL_S` (15 minutes) and carry the login's session id (`sid`). Refresh tokens are
single use: each refresh answers a new pair, and a used refresh token presented again revokes the whole session.
Scripts use the `refresh_token` of the JSON answers; browsers get the same token in an HttpOnly cookie
(`cityops_refresh`, Path=/api/v1/auth, SameSite=Strict, Secure over https) that page scripts cannot read. A refresh
or logout by cookie must carry `X-Requested-With: cityops`, which a cross-site form cannot send.

Failed logins are throttled per username and per client address (`request.client.host`). Behind a reverse proxy
uvicorn must trust the proxy's X-Forwarded-For (`--proxy-headers --forwarded-allow-ips=<proxy>`; for
`cityops hub run` set FORWARDED_ALLOW_IPS), or every login counts against the proxy's address.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from cloud_hub.api.deps import ConnDep, CurrentUser, SettingsDep
from cloud_hub.api.problems import problem_response
from cloud_hub.api.schemas import RefreshRequest, Token, UserPublic
from cloud_hub.audit.store import record_failed_login, record_login
from cloud_hub.auth.scope import load_scope
from cloud_hub.auth.security import create_access_token
from cloud_hub.auth.sessions import (
    ClientInfo,
    IssuedRefresh,
    RefreshProblem,
    RefreshRefused,
    Throttled,
    ThrottlePolicy,
    login_succeeded,
    reserve_login_attempt,
    revoke_session_of_token,
    rotate_refresh_token,
    start_session,
)
from cloud_hub.auth.users import User, authenticate
from cloud_hub.core.config import HubSettings

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

REFRESH_COOKIE = "cityops_refresh"
COOKIE_PATH = "/api/v1/auth"
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "cityops"

_REFRESH_REFUSALS: dict[RefreshProblem, str] = {
    "unknown": "unknown refresh token; log in again",
    "revoked": "session ended (logged out or revoked); log in again",
    "reused": "session revoked because a refresh token was reused (a copy of it may be in other hands); log in again",
    "expired": "refresh token expired; log in again",
    "user_disabled": "user {username!r} no longer exists or is disabled; the session is revoked",
}
_UNAUTHORIZED_DOC = {401: {"description": "no, unknown, expired, used or revoked refresh token; log in again"}}
_CSRF_DOC = {403: {"description": f"refresh token from the cookie without the header '{CSRF_HEADER}: {CSRF_VALUE}'"}}


def _client(request: Request) -> ClientInfo:
    return ClientInfo(
        user_agent=request.headers.get("user-agent"), address=request.client.host if request.client else None
    )


def _cookie_flags(request: Request) -> dict:
    # Secure only over https (uvicorn takes the scheme from X-Forwarded-Proto behind a trusted proxy), so that the
    # cookie also works on a plain-http development hub.
    return {"path": COOKIE_PATH, "secure": request.url.scheme == "https", "httponly": True, "samesite": "strict"}


def _answer(
    settings: HubSettings, request: Request, response: Response, user: User, issued: IssuedRefresh, now: datetime
) -> Token:
    response.set_cookie(REFRESH_COOKIE, issued.token, max_age=settings.refresh_ttl_s, **_cookie_flags(request))
    response.headers["Cache-Control"] = "no-store"  # token answers must not sit in caches
    return Token(
        access_token=create_access_token(settings, user.username, user.role, now=now, session_id=issued.family_id),
        expires_in=settings.jwt_ttl_s,
        role=user.role,
        refresh_token=issued.token,
        refresh_expires_in=settings.refresh_ttl_s,
    )


def _presented_refresh_token(request: Request, body: RefreshRequest | None) -> str | None:
    """The token of the JSON body, else of the cookie (which needs the CSRF header); None when neither is sent."""
    if body is not None:
        return body.refresh_token
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie is None:
        return None
    if request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a refresh token from the {REFRESH_COOKIE} cookie needs the header '{CSRF_HEADER}: {CSRF_VALUE}'"
            ' (CSRF guard); send it, or send the token as JSON {"refresh_token": ...}',
        )
    return cookie


def _too_many_failures(hits: list[Throttled], policy: ThrottlePolicy, now: datetime) -> HTTPException:
    retry_at = max(hit.retry_at for hit in hits)
    retry_s = max(1, math.ceil((retry_at - now).total_seconds()))
    window = f"{policy.window_s // 60} minutes" if policy.window_s % 60 == 0 else f"{policy.window_s} s"
    limits = " and ".join(
        f"{hit.max_failures} failed logins for user {hit.key!r}"
        if hit.scope == "username"
        else f"{hit.max_failures} failed logins from address {hit.key}"
        for hit in hits
    )
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many failed logins: limit of {limits} within {window} reached;"
        f" try again in {retry_s} s (after {retry_at.astimezone(UTC).isoformat(timespec='seconds')})",
        headers={"Retry-After": str(retry_s)},
    )


@router.post(
    "/token",
    operation_id="login_for_token",
    responses={429: {"description": "too many failed logins for this username or from this address"}},
)
def login_for_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    settings: SettingsDep,
    conn: ConnDep,
) -> Token:
    """Exchange username and password for an access token and a refresh token (also set as an HttpOnly cookie)."""
    now = datetime.now(UTC)
    policy = ThrottlePolicy.from_settings(settings)
    client = _client(request)
    attempt = reserve_login_attempt(conn, form.username, client.address, policy, now)
    if isinstance(attempt, list):
        raise _too_many_failures(attempt, policy, now)
    # The attempt counts as a failure until it succeeds: committed now, so that guesses running at the same time on
    # other replicas see it before the (deliberately slow) password check.
    conn.commit()
    user = authenticate(conn, form.username, form.password)
    if user is None:
        record_failed_login(conn, form.username, client)  # audit log; committed, as the 401 rolls back
        # One message for unknown user and wrong password, so the answer does not reveal which names exist.
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "incorrect username or password (or the account is disabled)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    login_succeeded(conn, attempt)
    record_login(conn, user, client)  # audit log, with this transaction
    issued = start_session(conn, user.username, settings.refresh_ttl_s, now, client)
    return _answer(settings, request, response, user, issued, now)


@router.post("/refresh", operation_id="refresh_token", response_model=Token, responses=_UNAUTHORIZED_DOC | _CSRF_DOC)
def refresh_token(
    request: Request, response: Response, settings: SettingsDep, conn: ConnDep, body: RefreshRequest | None = None
) -> Token | JSONResponse:
    """Exchange an unused refresh token (JSON body, or the cookie with the CSRF header) for a new pair."""
    now = datetime.now(UTC)
    token = _presented_refresh_token(request, body)
    if token is None:
        return _refresh_refused(
            request,
            f'no refresh token: send JSON {{"refresh_token": ...}} or the {REFRESH_COOKIE} cookie;'
            " log in at POST /api/v1/auth/token",
        )
    outcome = rotate_refresh_token(conn, token, settings.refresh_ttl_s, now, _client(request))
    if isinstance(outcome, RefreshRefused):
        return _refresh_refused(request, _REFRESH_REFUSALS[outcome.problem].format(username=outcome.username))
    return _answer(settings, request, response, outcome.user, outcome.refresh, now)


def _refresh_refused(request: Request, detail: str) -> JSONResponse:
    # Answered, not raised: the request's transaction commits, so a revocation written by the refusal is kept.
    # The cookie goes too, so a browser stops presenting a token that can never work again.
    refused = problem_response(request, status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})
    refused.delete_cookie(REFRESH_COOKIE, **_cookie_flags(request))
    return refused


@router.post(
    "/logout",
    operation_id="logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_CSRF_DOC | {422: {"description": "no refresh token sent"}},
)
def logout(request: Request, conn: ConnDep, body: RefreshRequest | None = None) -> Response:
    """End the session of the refresh token (JSON body, or the cookie with the CSRF header) and clear the cookie.

    Its access tokens are refused from now on. An unknown or expired token is already no session: 204 as well.
    """
    token = _presented_refresh_token(request, body)
    if token is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f'no refresh token to log out: send JSON {{"refresh_token": ...}} or the {REFRESH_COOKIE} cookie',
        )
    revoke_session_of_token(conn, token, datetime.now(UTC))
    answer = Response(status_code=status.HTTP_204_NO_CONTENT)
    answer.delete_cookie(REFRESH_COOKIE, **_cookie_flags(request))
    return answer


@router.get("/me", operation_id="read_current_user")
def read_current_user(user: CurrentUser, conn: ConnDep) -> UserPublic:
    """Who is logged in, with the districts and grids their view of the city is limited to (`auth.scope`)."""
    scope = load_scope(conn, user)
    return UserPublic(
        username=user.username,
        role=user.role,
        display_name=user.display_name,
        districts=sorted(scope.districts or ()),
        grids=sorted(scope.grids),
    )
