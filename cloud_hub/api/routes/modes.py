"""Hub-wide operating modes: GET /api/v1/modes/{name} (any logged-in user), POST to switch (commander or admin,
audited), GET /api/v1/modes/{name}/history (the audit trail). The only mode so far is `rainstorm`, which tightens
waterlogging thresholds city-wide (rules/hub/telemetry.yaml declares the values)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from cloud_hub.api.deps import ConnDep, CurrentUser, require_roles
from cloud_hub.auth.users import User
from cloud_hub.telemetry.modes import get_mode, mode_history, set_mode

router = APIRouter(prefix="/api/v1/modes", tags=["modes"])

ModeName = Literal["rainstorm"]


class ModeSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    note: str | None = Field(None, max_length=1000, description="why, for the audit trail")


class ModePublic(BaseModel):
    name: str
    enabled: bool
    note: str | None
    changed_by: str | None
    changed_at: datetime


class ModeChange(BaseModel):
    enabled: bool
    note: str | None
    actor: str
    role: str
    at: datetime


@router.get("/{name}", operation_id="get_mode")
def get_mode_route(name: ModeName, conn: ConnDep, user: CurrentUser) -> ModePublic:
    """The mode's current state (every replica reads the same row)."""
    return ModePublic.model_validate(get_mode(conn, name), from_attributes=True)


@router.post("/{name}", operation_id="set_mode")
def set_mode_route(
    name: ModeName,
    body: ModeSwitch,
    conn: ConnDep,
    user: Annotated[User, Depends(require_roles("commander", "admin"))],
) -> ModePublic:
    """Switch the mode on or off; recorded with who, when and why."""
    state = set_mode(conn, name, body.enabled, body.note, user.username, user.role)
    return ModePublic.model_validate(state, from_attributes=True)


@router.get(
    "/{name}/history",
    operation_id="get_mode_history",
    dependencies=[Depends(require_roles("commander", "admin"))],
)
def mode_history_route(
    name: ModeName, conn: ConnDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ModeChange]:
    """Every switch of the mode, newest first."""
    return [ModeChange.model_validate(row) for row in mode_history(conn, name, limit)]
