"""/api/v1/admin/users: accounts and roles (admins), readable by commanders for the people work can go to.

Users are disabled, never deleted (work orders and audit trails name them); password hashes are never returned.
Role and active changes reach routing at once (a disabled officer's roster entries stop routing work)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from cloud_hub.admin import users as store
from cloud_hub.admin.audit import record_change
from cloud_hub.admin.errors import not_found
from cloud_hub.admin.users import AdminUser, PasswordReset, UserCreate, UserFilters, UserUpdate
from cloud_hub.api.deps import ConnDep
from cloud_hub.api.routes.admin_common import (
    CONFLICT,
    ERRORS,
    NOT_FOUND,
    Admin,
    Limit,
    Offset,
    Reader,
    routing_changed,
)
from cloud_hub.api.schemas import Page
from cloud_hub.auth.security import Role
from cloud_hub.auth.users import User

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin-users"], responses=ERRORS)

# What a commander sees: the people a work order may be dispatched, reassigned or escalated to.
WORK_ROLES: tuple[str, ...] = ("officer", "commander", "admin")


def _visible_roles(user: User) -> tuple[str, ...] | None:
    return None if user.role == "admin" else WORK_ROLES


def _dump(user: AdminUser) -> dict:
    return user.model_dump(mode="json")


@router.get("", operation_id="list_users")
def list_users(
    conn: ConnDep,
    user: Reader,
    role: Role | None = None,
    active: bool | None = None,
    district_id: Annotated[
        str | None, Query(description="users of this district: listed for it, or on a roster or supervising there")
    ] = None,
    q: Annotated[str | None, Query(description="part of the username or display name")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AdminUser]:
    """Users by username. Commanders see officers, commanders and admins (those work can be given to)."""
    filters = UserFilters(_visible_roles(user), role, active, district_id, q, limit, offset)
    data, count = store.list_users(conn, filters)
    return Page[AdminUser](data=data, count=count)


@router.get("/{username}", operation_id="get_user", responses=NOT_FOUND)
def get_user(username: str, conn: ConnDep, user: Reader) -> AdminUser:
    found = store.get_user(conn, username)
    roles = _visible_roles(user)
    if found is None or (roles is not None and found.role not in roles):
        raise not_found(f"user {username!r}")
    return found


@router.post("", operation_id="create_user", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
def create_user(body: UserCreate, conn: ConnDep, user: Admin) -> AdminUser:
    """A new account; the password needs at least 10 characters and must not be the username."""
    created = store.create_user(conn, body)
    record_change(conn, user, "user", created.username, "create", after=_dump(created))
    return created


@router.patch("/{username}", operation_id="update_user", responses={**NOT_FOUND, **CONFLICT})
def update_user(username: str, body: UserUpdate, request: Request, conn: ConnDep, user: Admin) -> AdminUser:
    """Change role, display name, active flag or districts. 409 when an admin would demote or disable themselves,
    or when the user's roster or supervised grids would be left with someone routing cannot give work to."""
    before = store.require_user(conn, username, lock=True)
    after = store.update_user(conn, user, username, body)
    record_change(conn, user, "user", username, "update", _dump(before), _dump(after))
    routing_changed(request, conn)
    return after


@router.post("/{username}/password", operation_id="reset_user_password", responses=NOT_FOUND)
def reset_user_password(username: str, body: PasswordReset, conn: ConnDep, user: Admin) -> AdminUser:
    """Set a new password (at least 10 characters, not the username); the change record never holds it."""
    after = store.reset_password(conn, username, body.password)
    record_change(conn, user, "user", username, "reset_password")
    return after


@router.post("/{username}/disable", operation_id="disable_user", responses={**NOT_FOUND, **CONFLICT})
def disable_user(username: str, request: Request, conn: ConnDep, user: Admin) -> AdminUser:
    """Disable the account: its tokens stop working at once and its roster entries stop routing work."""
    before = store.require_user(conn, username, lock=True)
    after = store.update_user(conn, user, username, UserUpdate(active=False))
    record_change(conn, user, "user", username, "disable", _dump(before), _dump(after))
    routing_changed(request, conn)
    return after
