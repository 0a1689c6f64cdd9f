"""Work orders: list (officers see only their own), one with its audit trail, and status transitions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status

from cloud_hub.api.deps import ConnDep, require_roles
from cloud_hub.api.schemas import Page, TransitionPublic, TransitionRequest, WorkOrderDetail, WorkOrderPublic
from cloud_hub.auth.users import User
from cloud_hub.workorders import store
from cloud_hub.workorders.state_machine import (
    Actor,
    IllegalTransition,
    NotPermitted,
    Status,
    allowed_targets,
)

router = APIRouter(prefix="/api/v1", tags=["work-orders"])

# Technicians maintain devices; work orders are for officers and the command centre.
Worker = Annotated[User, Depends(require_roles("admin", "commander", "officer"))]


def _visible(user: User, row: dict) -> bool:
    return user.role != "officer" or row["assignee"] == user.username


def _load(conn: ConnDep, user: User, order_id: int) -> dict:
    row = store.get_work_order(conn, order_id)
    # An officer gets the same 404 for someone else's order as for a missing one: ids reveal nothing.
    if row is None or not _visible(user, row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"work order {order_id} not found")
    return row


def _detail(conn: ConnDep, user: User, order_id: int) -> WorkOrderDetail:
    row = _load(conn, user, order_id)
    state = store.state_of(row)
    return WorkOrderDetail(
        **WorkOrderPublic.model_validate(row).model_dump(),
        transitions=[TransitionPublic.model_validate(t) for t in store.list_transitions(conn, order_id)],
        allowed=[s.value for s in allowed_targets(state, Actor(user.username, user.role))],
    )


@router.get("/work-orders", operation_id="list_work_orders")
def list_work_orders(
    conn: ConnDep,
    user: Worker,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    assignee: str | None = None,
    kind: str | None = None,
    severity: Literal["red", "orange", "yellow", "blue"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[WorkOrderPublic]:
    """Most urgent (red first) and newest first. Officers see only the work orders assigned to them."""
    if user.role == "officer":
        if assignee not in (None, user.username):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "officers may list only their own work orders")
        assignee = user.username
    rows, count = store.list_work_orders(
        conn,
        store.Filters(
            status=status_.value if status_ else None,
            assignee=assignee,
            kind=kind,
            severity=severity,
            limit=limit,
            offset=offset,
        ),
    )
    return Page[WorkOrderPublic](data=[WorkOrderPublic.model_validate(r) for r in rows], count=count)


@router.get("/work-orders/{order_id}", operation_id="get_work_order")
def get_work_order(order_id: int, conn: ConnDep, user: Worker) -> WorkOrderDetail:
    """One work order with its full transition history and what the caller may do next."""
    return _detail(conn, user, order_id)


@router.post(
    "/work-orders/{order_id}/transitions",
    operation_id="transition_work_order",
    responses={403: {"description": "role not allowed"}, 409: {"description": "illegal transition"}},
)
def transition_work_order(order_id: int, body: TransitionRequest, conn: ConnDep, user: Worker) -> WorkOrderDetail:
    """Move the work order to `to`; every step is appended to the audit trail with actor, role, note, evidence."""
    _load(conn, user, order_id)
    try:
        store.apply_transition(
            conn,
            order_id,
            body.to,
            Actor(user.username, user.role),
            assignee=body.assignee,
            note=body.note,
            evidence=body.evidence,
        )
    except store.WorkOrderNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except NotPermitted as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except IllegalTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _detail(conn, user, order_id)
