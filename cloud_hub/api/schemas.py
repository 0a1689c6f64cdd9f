"""Request and response bodies of the domain API (auth, incidents, work orders); lists are `Page`s."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A list answer: the page of items and the total count matching the filters."""

    data: list[T]
    count: int


class Token(BaseModel):
    """A login or refresh answer: a short-lived access token and the next refresh token (also set as a cookie)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    role: str
    refresh_token: str = Field(description="single use: POST it to /api/v1/auth/refresh for the next pair")
    refresh_expires_in: int = Field(description="seconds the refresh token is valid")


class RefreshRequest(BaseModel):
    """Body of refresh and logout; browsers send no body and use the HttpOnly cookie instead."""

    refresh_token: str = Field(min_length=1, max_length=200)


class UserPublic(BaseModel):
    username: str
    role: str
    display_name: str | None = None
    districts: list[str] = Field(default_factory=list, description="districts assigned (commanders, technicians)")
    grids: list[str] = Field(default_factory=list, description="grids on the user's roster or supervised by them")


class IncidentWorkOrderSummary(BaseModel):
    """The work order of an incident, as the incident list shows it."""

    id: int
    status: str
    assignee: str | None
    due_at: datetime | None
    overdue: bool = Field(description="open (not resolved), with its deadline passed")


class IncidentPublic(BaseModel):
    id: int
    device_id: str
    incident_key: str
    kind: str
    subtype: str | None
    severity: str
    status: str
    camera_id: str | None
    zone_id: str | None
    lon: float | None
    lat: float | None
    grid_id: str | None
    district: str | None
    first_event_id: UUID
    last_event_id: UUID
    evidence_event_id: UUID | None
    first_seen: datetime
    last_seen: datetime
    ended_at: datetime | None
    event_count: int
    confidence: float | None
    measurements: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    work_order: IncidentWorkOrderSummary | None = Field(None, description="None while no work order exists")


class WorkOrderPublic(BaseModel):
    id: int
    incident_id: int
    kind: str
    subtype: str | None
    severity: str
    status: str
    assignee: str | None
    handled_by: str | None
    suspended_from: str | None
    grid_id: str | None
    district: str | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    camera_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    evidence_event_id: UUID | None = None


class TransitionPublic(BaseModel):
    id: int
    from_status: str | None
    to_status: str
    actor: str
    role: str
    assignee: str | None
    note: str | None
    evidence: str | None
    at: datetime


class WorkOrderDetail(WorkOrderPublic):
    transitions: list[TransitionPublic]
    allowed: list[str] = Field(description="statuses the requesting user may move this work order to now")


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="target status, e.g. accepted, on_site, resolved, verified, false_alarm")
    note: str | None = Field(None, max_length=4000)
    assignee: str | None = Field(None, description="new officer (reassigned) or supervisor (escalated)")
    evidence: str | None = Field(None, max_length=512, description="reference to a photo, e.g. an evidence id")


class IncidentTimelineEvent(BaseModel):
    """One event of an incident, as the drill-down shows it (plate text only for admins and commanders)."""

    event_id: UUID
    device_id: str
    seq: int
    ts: datetime
    phase: str
    camera_id: str | None
    zone_id: str | None
    confidence: float | None
    measurements: dict[str, Any] | None
    model: dict[str, Any] | None = Field(description="the detector model: name, version, sha256")
    rule: dict[str, Any] | None = Field(description="the edge rule that fired: id, version")
    evidence_url: str | None = Field(description="relative URL of the picture, when one was uploaded")


class IncidentTimelineWorkOrder(IncidentWorkOrderSummary):
    transitions: list[TransitionPublic]


class IncidentTimeline(BaseModel):
    """An incident with its work order (and every transition) and its events in time order."""

    incident: IncidentPublic
    work_order: IncidentTimelineWorkOrder | None
    events: list[IncidentTimelineEvent]
    truncated: bool = Field(description="more events than the limit: the oldest were left out")
