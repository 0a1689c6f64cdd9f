"""POST /api/v1/auth/token (OAuth2 password form) and GET /api/v1/auth/me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from cloud_hub.api.deps import ConnDep, CurrentUser, SettingsDep
from cloud_hub.api.schemas import Token, UserPublic
from cloud_hub.auth.security import create_access_token
from cloud_hub.auth.users import authenticate

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", operation_id="login_for_token")
def login_for_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], settings: SettingsDep, conn: ConnDep
) -> Token:
    """Exchange username and password for a short-lived bearer token."""
    user = authenticate(conn, form.username, form.password)
    if user is None:
        # One message for unknown user and wrong password, so the answer does not reveal which names exist.
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "incorrect username or password (or the account is disabled)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(
        access_token=create_access_token(settings, user.username, user.role),
        expires_in=settings.jwt_ttl_s,
        role=user.role,
    )


@router.get("/me", operation_id="read_current_user")
def read_current_user(user: CurrentUser) -> UserPublic:
    return UserPublic(username=user.username, role=user.role, display_name=user.display_name)
