"""Request and response bodies of the domain API (auth, incidents, work orders); lists are `Page`s."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

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
    device_id: str | None = Field(description="null for an incident a citizen reported (12345 hotline)")
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
    first_event_id: UUID | None = Field(description="null for a citizen's report, which has no events")
    last_event_id: UUID | None
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
    due_at: datetime | None = Field(description="deadline; null while suspended (the SLA clock is paused)")
    sla_remaining_minutes: float | None = Field(
        None,
        validation_alias=AliasChoices("sla_remaining_minutes", "sla_remaining_min"),
        description="working minutes left on a suspended order's paused SLA clock",
    )
    created_at: datetime
    updated_at: datetime
    camera_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    evidence_event_id: UUID | None = None
    queue: str | None = Field(
        None, description="registered with nobody assigned: the district whose commanders dispatch it (else null)"
    )


class WorkOrderPhoto(BaseModel):
    """A photo an officer uploaded to a work order, stored content-addressed in the evidence store."""

    photo_id: UUID
    work_order_id: int
    uploaded_by: str
    sha256: str
    content_type: str
    bytes: int
    width: int
    height: int
    taken_at: datetime | None = Field(description="when it was taken (the upload's field, else the EXIF time)")
    lon: float | None = Field(description="where it was taken (the upload's field, else EXIF GPS)")
    lat: float | None
    note: str | None
    uploaded_at: datetime
    transition_id: int | None = Field(description="the transition it is evidence of; null until one names it")
    url: str = Field(description="relative URL of the picture (GET with the same token)")


class TransitionPublic(BaseModel):
    id: int
    from_status: str | None
    to_status: str
    actor: str
    role: str
    assignee: str | None
    note: str | None
    evidence: str | None = Field(description="free-text evidence reference (older clients); photos replace it")
    at: datetime
    photos: list[WorkOrderPhoto] = Field(default_factory=list, description="photos given as evidence of this step")


class WorkOrderModelRef(BaseModel):
    name: str | None = None
    version: str | None = None
    sha256: str | None = None


class WorkOrderRuleRef(BaseModel):
    id: str | None = None
    version: int | str | None = None


class WorkOrderIncident(BaseModel):
    """The incident behind a work order, with the model and edge rule of its evidence event."""

    kind: str
    subtype: str | None
    status: str
    severity: str
    confidence: float | None
    measurements: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    ended_at: datetime | None
    model: WorkOrderModelRef | None = Field(description="detector model of the evidence event: name, version, sha256")
    rule: WorkOrderRuleRef | None = Field(description="edge rule that fired: id, version")


class WorkOrderDetail(WorkOrderPublic):
    incident: WorkOrderIncident
    photos: list[WorkOrderPhoto] = Field(description="every photo of the order, oldest first")
    transitions: list[TransitionPublic]
    allowed: list[str] = Field(description="statuses the requesting user may move this work order to now")


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="target status, e.g. accepted, on_site, resolved, verified, false_alarm")
    note: str | None = Field(None, max_length=4000)
    assignee: str | None = Field(None, description="new officer (reassigned) or supervisor (escalated)")
    photos: list[UUID] = Field(
        default_factory=list,
        max_length=20,
        description="photo_ids uploaded to this order (POST .../photos) that document this transition",
    )
    evidence: str | None = Field(
        None, max_length=512, description="free-text evidence reference, kept for older clients; prefer `photos`"
    )


class WorkOrderBulkRequest(BaseModel):
    """One action on many work orders (command centre); each order succeeds or fails on its own."""

    model_config = ConfigDict(extra="forbid")

    # Positive bigints (the column's type): a larger number failed in the database with a 500 (found by tests/fuzz).
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        min_length=1, max_length=500, description="work order ids, each acted on once"
    )
    action: Literal["reassign", "escalate", "unassign"] = Field(
        description="reassign: to `assignee`; escalate: to `assignee` or the grid's supervisor / district's "
        "commander; unassign: back to registered with nobody assigned"
    )
    assignee: str | None = None
    note: str | None = Field(None, max_length=4000)

    @model_validator(mode="after")
    def _assignee_fits_action(self) -> WorkOrderBulkRequest:
        if self.action == "reassign" and not self.assignee:
            raise ValueError("assignee: reassign needs the officer to give the work orders to")
        if self.action == "unassign" and self.assignee:
            raise ValueError("assignee: unassign leaves the work orders without one; drop `assignee`")
        return self


class WorkOrderBulkItem(BaseModel):
    id: int
    ok: bool
    status: str | None = Field(None, description="the order's status after the action (when ok)")
    assignee: str | None = None
    error: str | None = Field(None, description="why the action was refused for this order (when not ok)")


class WorkOrderBulkResult(BaseModel):
    results: list[WorkOrderBulkItem] = Field(description="one per distinct id, in request order")
    succeeded: int
    failed: int


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
