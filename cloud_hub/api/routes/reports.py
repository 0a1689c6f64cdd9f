"""Citizens' reports (12345 hotline): a hotline system files cases and follows them; staff read the case behind an
order; administrators issue the hotline's tokens.

The hotline authenticates with `Authorization: Bearer cityops_rc_...`, a token an admin issued for it
(`POST /api/v1/report-clients`), valid for these two routes only. The case number is the idempotency key: a retry
answers the case already opened (200, `Idempotent-Replayed: true`), another case under a used number is 409."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from cloud_hub.admin.audit import record_change
from cloud_hub.api.deps import ConnDep, SettingsDep, require_roles
from cloud_hub.api.problems import problem_responses
from cloud_hub.api.routes.admin_common import Limit, Offset
from cloud_hub.api.schemas import Page
from cloud_hub.auth.scope import load_scope
from cloud_hub.auth.users import User
from cloud_hub.evidence.factory import open_evidence_store
from cloud_hub.reports import clients, service
from cloud_hub.reports import store as report_store
from cloud_hub.reports.models import CASE_NUMBER_PATTERN, ReportSubmission
from cloud_hub.reports.rules import ReportRulesUnavailable, report_rules_for
from cloud_hub.workorders import store as work_orders

router = APIRouter(prefix="/api/v1", tags=["reports"])

Admin = Annotated[User, Depends(require_roles("admin"))]
Worker = Annotated[User, Depends(require_roles("admin", "commander", "officer"))]
CaseNumber = Annotated[str, Path(pattern=CASE_NUMBER_PATTERN, description="the hotline's case number")]
_bearer = HTTPBearer(auto_error=False, scheme_name="HotlineToken", description="a report client's token")


def _hotline(conn: ConnDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    client_id = clients.authenticate(conn, credentials.credentials) if credentials is not None else None
    if client_id is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "hotline token required: 'Authorization: Bearer cityops_rc_...' issued by an admin "
            "(POST /api/v1/report-clients); unknown, rotated and revoked tokens are refused",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return client_id


HotlineClient = Annotated[str, Depends(_hotline)]


class ReportStep(BaseModel):
    status: str = Field(description="the status the work order reached")
    at: datetime


class ReportCase(BaseModel):
    """A case as the hotline follows it: where it stands, when each step happened, what the officer wrote."""

    case_number: str
    category: str
    kind: str = Field(description="the incident kind the category maps to (rules/hub/reports.yaml)")
    severity: str
    status: str = Field(description="the work order's status: registered, dispatched, ..., closed or false_alarm")
    incident_status: str = Field(description="open until the work order is closed (or called a false alarm)")
    incident_id: int
    work_order_id: int
    grid_id: str | None = Field(description="null when no grid contains the place (a commander dispatches it)")
    district: str | None
    reported_at: datetime
    received_at: datetime
    updated_at: datetime
    due_at: datetime | None = Field(description="deadline of the current holder; null while suspended or done")
    dispatched_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None = Field(description="closed after verification, or judged a false alarm")
    resolution_note: str | None = Field(description="what was written when it was last resolved or called false")
    photos: int = Field(description="pictures on the work order (the citizen's and the officers')")
    history: list[ReportStep]


class WorkOrderReport(ReportCase):
    """The citizen's report behind a work order, for the staff who handle it."""

    client_id: str
    text: str
    address: str | None
    lon: float | None
    lat: float | None


def _last(history: list[dict[str, Any]], *statuses: str) -> datetime | None:
    return next((step["at"] for step in reversed(history) if step["status"] in statuses), None)


def _case(row: dict[str, Any], model: type[ReportCase] = ReportCase) -> Any:
    history = row["history"]
    return model(
        **{k: v for k, v in row.items() if k != "history"},
        dispatched_at=_last(history, "dispatched"),
        resolved_at=_last(history, "resolved"),
        closed_at=_last(history, "closed", "false_alarm"),
        resolution_note=service.resolution_note(history),
        history=[ReportStep(status=s["status"], at=s["at"]) for s in history],
    )


def _context(request: Request, settings: SettingsDep) -> service.Context:
    rules, grids = getattr(request.app.state, "rules", None), getattr(request.app.state, "grids", None)
    if rules is None or grids is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "hub rules not loaded yet; retry shortly")
    try:
        report_rules = report_rules_for(settings.rules_dir).current()
    except ReportRulesUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return service.Context(report_rules, rules.current, grids, open_evidence_store(settings), datetime.now(UTC))


@router.post(
    "/reports",
    operation_id="create_report",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ReportCase, "description": "a retry: the case already opened under this number"},
        **problem_responses(401, 409, 413, 415, 422, 503),
    },
)
def create_report(
    body: ReportSubmission,
    response: Response,
    conn: ConnDep,
    client_id: HotlineClient,
    ctx: Annotated[service.Context, Depends(_context)],
) -> ReportCase:
    """File a citizen's case: it becomes an incident and a work order, routed to the grid's officer on duty with the
    SLA of its kind (none found: left registered for the district's commanders). Photos go on the work order."""
    try:
        _, replayed = service.submit(conn, client_id, body, ctx)
    except service.ReportRefused as exc:
        raise HTTPException(exc.status, exc.detail) from None
    row = report_store.get_case(conn, client_id, body.case_number)
    assert row is not None
    if replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/reports/{body.case_number}"
    return _case(row)


@router.get("/reports/{case_number}", operation_id="get_report", responses=problem_responses(401, 404))
def get_report(case_number: CaseNumber, conn: ConnDep, client_id: HotlineClient) -> ReportCase:
    """A case this hotline client filed: its status, when each step happened and the resolution note."""
    row = report_store.get_case(conn, client_id, case_number)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_number} not found for hotline client {client_id}")
    return _case(row)


@router.get(
    "/work-orders/{order_id}/report", operation_id="get_work_order_report", responses=problem_responses(401, 403, 404)
)
def get_work_order_report(order_id: int, conn: ConnDep, user: Worker) -> WorkOrderReport:
    """The citizen's report a work order came from (text, address, case number), for whoever may see the order;
    404 when the order is not visible or came from a device."""
    row = report_store.get_case_of_order(conn, order_id)
    if row is None or not work_orders.visible(conn, order_id, load_scope(conn, user)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no citizen's report behind work order {order_id}")
    return _case(row, WorkOrderReport)


# ---- report clients (administrators) ---------------------------------------------------------------------------


class ReportClientCreate(BaseModel):
    client_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$", description="e.g. hotline-12345")
    name: str = Field(min_length=1, max_length=200)


class ReportClientPublic(BaseModel):
    client_id: str
    name: str
    active: bool
    created_by: str
    created_at: datetime
    token_issued_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="within ten minutes")


class ReportClientToken(ReportClientPublic):
    token: str = Field(description="shown this once: give it to the hotline system; the hub keeps only a hash")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return ReportClientPublic.model_validate(row).model_dump(mode="json")


@router.post(
    "/report-clients",
    operation_id="create_report_client",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422),
)
def create_report_client(body: ReportClientCreate, conn: ConnDep, user: Admin) -> ReportClientToken:
    """Register a hotline system and issue its token (shown once)."""
    created = clients.create_client(conn, body.client_id, body.name, user.username)
    if created is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"report client {body.client_id!r} exists; rotate its token")
    row, token = created
    record_change(conn, user, "report_client", body.client_id, "create", after=_public(row))
    return ReportClientToken(**row, token=token)


@router.get("/report-clients", operation_id="list_report_clients", responses=problem_responses(401, 403))
def list_report_clients(conn: ConnDep, user: Admin, limit: Limit = 100, offset: Offset = 0) -> Page[ReportClientPublic]:
    rows, count = clients.list_clients(conn, limit, offset)
    return Page[ReportClientPublic](data=[ReportClientPublic.model_validate(r) for r in rows], count=count)


@router.post(
    "/report-clients/{client_id}/token",
    operation_id="rotate_report_client_token",
    responses=problem_responses(401, 403, 404),
)
def rotate_report_client_token(client_id: str, conn: ConnDep, user: Admin) -> ReportClientToken:
    """A new token; the old one stops working at once (a revoked client becomes active again)."""
    before = clients.get_client(conn, client_id)
    rotated = clients.rotate_token(conn, client_id)
    if before is None or rotated is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report client {client_id!r} not found")
    row, token = rotated
    record_change(conn, user, "report_client", client_id, "rotate_token", _public(before), _public(row))
    return ReportClientToken(**row, token=token)


@router.delete(
    "/report-clients/{client_id}",
    operation_id="revoke_report_client",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
def revoke_report_client(client_id: str, conn: ConnDep, user: Admin) -> Response:
    """Refuse the client's token from now on; its cases stay. A new token (rotate) brings it back."""
    before = clients.get_client(conn, client_id)
    row = clients.revoke(conn, client_id)
    if before is None or row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report client {client_id!r} not found")
    record_change(conn, user, "report_client", client_id, "revoke", _public(before), _public(row))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
