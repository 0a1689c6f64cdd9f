"""Work orders: list and detail (scoped by `cloud_hub.auth.scope`), status transitions, bulk actions.

An order outside the caller's scope answers 404 like a missing one: ids reveal nothing. POST routes take an
optional `Idempotency-Key` header (the officer app retries queued actions): a retry gets the first answer again
(`Idempotent-Replayed: true`) and acts no second time (`cloud_hub.workorders.idempotency`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse

from cloud_hub.api.deps import ConnDep, Offset, require_roles
from cloud_hub.api.schemas import (
    Page,
    TransitionPublic,
    TransitionRequest,
    WorkOrderBulkItem,
    WorkOrderBulkRequest,
    WorkOrderBulkResult,
    WorkOrderDetail,
    WorkOrderIncident,
    WorkOrderPhoto,
    WorkOrderPublic,
)
from cloud_hub.auth.scope import Scope, load_scope
from cloud_hub.auth.users import User
from cloud_hub.rules.models import SlaRules
from cloud_hub.workorders import idempotency, store
from cloud_hub.workorders import photos as photo_store
from cloud_hub.workorders.photos import PhotoRefused
from cloud_hub.workorders.state_machine import Actor, IllegalTransition, NotPermitted, Status, allowed_targets

router = APIRouter(prefix="/api/v1", tags=["work-orders"])

# Technicians maintain devices; work orders are for officers and the command centre.
Worker = Annotated[User, Depends(require_roles("admin", "commander", "officer"))]
Reviewer = Annotated[User, Depends(require_roles("admin", "commander"))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=idempotency.KEY_MAX_LENGTH,
        description="the same value on every retry of one action (1-200 characters); kept 7 days",
    ),
]
REPLAYED = {"Idempotent-Replayed": "true"}
_BULK_TARGET = {"reassign": Status.REASSIGNED, "escalate": Status.ESCALATED, "unassign": Status.REGISTERED}


def sla_rules(request: Request) -> SlaRules:
    rules = getattr(request.app.state, "rules", None)
    if rules is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "hub rules not loaded yet; retry shortly")
    return rules.current.sla


SlaDep = Annotated[SlaRules, Depends(sla_rules)]


def not_found(order_id: int) -> idempotency.Refused:
    return idempotency.Refused(status.HTTP_404_NOT_FOUND, f"work order {order_id} not found")


def photo_public(row: dict[str, Any]) -> WorkOrderPhoto:
    return WorkOrderPhoto(**row, url=f"/api/v1/work-orders/{row['work_order_id']}/photos/{row['photo_id']}")


def load_detail(conn: psycopg.Connection, scope: Scope, user: User, order_id: int) -> WorkOrderDetail:
    """The order as `user` may see it; raises Refused (404) when it is missing or outside their scope."""
    row = store.get_work_order_detail(conn, order_id, scope)
    if row is None:
        raise not_found(order_id)
    photos = [photo_public(p) for p in photo_store.list_photos(conn, order_id)]
    by_transition: dict[int, list[WorkOrderPhoto]] = {}
    for photo in photos:
        if photo.transition_id is not None:
            by_transition.setdefault(photo.transition_id, []).append(photo)
    transitions = [
        TransitionPublic(**t, photos=by_transition.get(t["id"], [])) for t in store.list_transitions(conn, order_id)
    ]
    return WorkOrderDetail(
        **WorkOrderPublic.model_validate(row).model_dump(),
        incident=WorkOrderIncident.model_validate(row["incident"]),
        photos=photos,
        transitions=transitions,
        allowed=[s.value for s in allowed_targets(store.state_of(row), Actor(user.username, user.role))],
    )


def respond_once(
    conn: psycopg.Connection,
    user: User,
    key: str | None,
    request: Request,
    body: Any,
    act: Callable[[], idempotency.Answer],
) -> JSONResponse:
    """Run `act` once per idempotency key (or plainly without one) and answer its outcome; a refusal becomes the
    HTTP error it names (committed first when a key stores it, so the retry finds it)."""
    replayed = False
    try:
        if key is None:
            answer = act()
        else:
            answer, replayed = idempotency.run_once(
                conn,
                user.username,
                key,
                idempotency.RequestPrint.of(request.method, request.url.path, body),
                act,
                datetime.now(UTC),
            )
    except idempotency.Refused as exc:
        raise HTTPException(exc.status_code, exc.detail) from None
    except idempotency.KeyReused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    headers = REPLAYED if replayed else None
    if answer.status_code >= 400:
        conn.commit()  # the stored refusal outlives the error response (which rolls the request back)
        raise HTTPException(answer.status_code, answer.body.get("detail", ""), headers=headers)
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


@router.get("/work-orders", operation_id="list_work_orders")
def list_work_orders(
    conn: ConnDep,
    user: Worker,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    open_: Annotated[
        bool | None,
        Query(alias="open", description="true: every status someone still has to act on (resolved included)"),
    ] = None,
    assignee: str | None = None,
    kind: str | None = None,
    severity: Literal["red", "orange", "yellow", "blue"] | None = None,
    grid_id: str | None = None,
    district: str | None = None,
    queue: Annotated[
        str | None, Query(description="the unassigned orders waiting in this district's commander queue")
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="true: past due_at and not yet resolved (clock running); false: the others")
    ] = None,
    due_before: Annotated[datetime | None, Query(description="due_at before this time (RFC 3339)")] = None,
    created_since: Annotated[datetime | None, Query(description="created at or after this time (RFC 3339)")] = None,
    sort: Annotated[
        store.Sort, Query(description="urgency: severity, then nearest deadline (default); newest; due")
    ] = "urgency",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[WorkOrderPublic]:
    """The work orders the caller may see: admins all, commanders their districts (none listed: the whole city),
    officers those of the grids on their roster or supervised by them and those assigned to them."""
    for name, value in (("due_before", due_before), ("created_since", created_since)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} needs a time zone, e.g. 2026-11-23T08:00:00+08:00"
            )
    if user.role == "officer" and assignee not in (None, user.username):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "officers may filter by their own name only; use grid_id for the orders of their grids",
        )
    filters = store.Filters(
        status=status_.value if status_ else None,
        open=open_,
        assignee=assignee,
        kind=kind,
        severity=severity,
        grid_id=grid_id,
        district=district,
        queue=queue,
        overdue=overdue,
        due_before=due_before,
        created_since=created_since,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    rows, count = store.list_work_orders(conn, filters, load_scope(conn, user))
    return Page[WorkOrderPublic](data=[WorkOrderPublic.model_validate(r) for r in rows], count=count)


@router.get("/work-orders/{order_id}", operation_id="get_work_order", responses={404: {"description": "not found"}})
def get_work_order(order_id: int, conn: ConnDep, user: Worker) -> WorkOrderDetail:
    """One work order with its place, incident (model and rule of the evidence), photos, every transition (with
    the photos given as its evidence) and what the caller may do next."""
    try:
        return load_detail(conn, load_scope(conn, user), user, order_id)
    except idempotency.Refused as exc:
        raise HTTPException(exc.status_code, exc.detail) from None


@router.post(
    "/work-orders/{order_id}/transitions",
    operation_id="transition_work_order",
    response_model=WorkOrderDetail,
    responses={
        403: {"description": "role not allowed"},
        404: {"description": "not found"},
        409: {"description": "illegal transition"},
        422: {"description": "bad photos, or an Idempotency-Key used for another request"},
    },
)
def transition_work_order(
    order_id: int,
    body: TransitionRequest,
    request: Request,
    conn: ConnDep,
    user: Worker,
    sla: SlaDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Move the work order to `to`; every step is appended to the audit trail with actor, role, note, and the
    photos named in `photos` (uploaded to this order before) as its evidence."""

    def act() -> idempotency.Answer:
        scope = load_scope(conn, user)
        if not store.visible(conn, order_id, scope):
            raise not_found(order_id)
        try:
            store.apply_transition(
                conn,
                order_id,
                body.to,
                Actor(user.username, user.role),
                assignee=body.assignee,
                note=body.note,
                evidence=body.evidence,
                photos=body.photos,
                sla=sla,
            )
        except store.WorkOrderNotFound:
            raise not_found(order_id) from None
        except NotPermitted as exc:
            raise idempotency.Refused(status.HTTP_403_FORBIDDEN, str(exc)) from None
        except IllegalTransition as exc:
            raise idempotency.Refused(status.HTTP_409_CONFLICT, str(exc)) from None
        except PhotoRefused as exc:
            raise idempotency.Refused(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        detail = load_detail(conn, scope, user, order_id)
        return idempotency.Answer(status.HTTP_200_OK, detail.model_dump(mode="json"))

    return respond_once(conn, user, idempotency_key, request, body.model_dump(mode="json"), act)


@router.post(
    "/work-orders/bulk",
    operation_id="bulk_work_orders",
    response_model=WorkOrderBulkResult,
    responses={403: {"description": "only commanders and admins"}},
)
def bulk_work_orders(
    body: WorkOrderBulkRequest,
    request: Request,
    conn: ConnDep,
    user: Reviewer,
    sla: SlaDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Reassign, escalate or unassign many work orders (command centre). Each order moves on its own through the
    same transition as a single request (savepoint per order): some may succeed while others are refused; the
    answer says which, per id. Orders outside the caller's scope are refused as not found."""
    ids = list(dict.fromkeys(body.ids))
    actor, target = Actor(user.username, user.role), _BULK_TARGET[body.action]

    def act() -> idempotency.Answer:
        scope = load_scope(conn, user)
        outcome: dict[int, WorkOrderBulkItem] = {}
        for order_id in sorted(ids):  # one lock order for every caller: concurrent bulk requests cannot deadlock
            try:
                with conn.transaction():
                    if not store.visible(conn, order_id, scope):
                        raise store.WorkOrderNotFound(f"work order {order_id} not found")
                    row = store.apply_transition(
                        conn, order_id, target, actor, assignee=body.assignee, note=body.note, sla=sla
                    )
                outcome[order_id] = WorkOrderBulkItem(
                    id=order_id, ok=True, status=row["status"], assignee=row["assignee"]
                )
            except (store.WorkOrderNotFound, NotPermitted, IllegalTransition) as exc:
                outcome[order_id] = WorkOrderBulkItem(id=order_id, ok=False, error=str(exc))
        results = [outcome[i] for i in ids]
        succeeded = sum(r.ok for r in results)
        result = WorkOrderBulkResult(results=results, succeeded=succeeded, failed=len(results) - succeeded)
        return idempotency.Answer(status.HTTP_200_OK, result.model_dump(mode="json"))

    return respond_once(conn, user, idempotency_key, request, body.model_dump(mode="json"), act)
