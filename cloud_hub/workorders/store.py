"""Data access for work orders: create (with the dispatch steps), transition (with an audit row each), query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud_hub.workorders.state_machine import (
    SYSTEM,
    Actor,
    IllegalTransition,
    OrderState,
    Outcome,
    Status,
    transition,
)

COLUMNS = (
    "w.id, w.incident_id, w.kind, w.subtype, w.severity, w.status, w.assignee, w.handled_by, w.suspended_from, "
    "w.grid_id, w.district, w.due_at, w.created_at, w.updated_at"
)
# Most urgent first (severity colour), then newest.
_ORDER = (
    "CASE w.severity WHEN 'red' THEN 0 WHEN 'orange' THEN 1 WHEN 'yellow' THEN 2 ELSE 3 END,"
    " w.created_at DESC, w.id DESC"
)


class WorkOrderNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class NewWorkOrder:
    incident_id: int
    kind: str
    subtype: str | None
    severity: str
    grid_id: str | None
    district: str | None
    assignee: str | None  # officer on duty; None leaves it registered for a commander to dispatch
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class Filters:
    status: str | None = None
    assignee: str | None = None
    kind: str | None = None
    severity: str | None = None
    limit: int = 100
    offset: int = 0


def state_of(row: dict[str, Any]) -> OrderState:
    return OrderState(
        status=Status(row["status"]),
        assignee=row["assignee"],
        handled_by=row["handled_by"],
        suspended_from=Status(row["suspended_from"]) if row["suspended_from"] else None,
    )


def _audit_rows(order_id: int, outcome: Outcome, actor: Actor, note: str | None, evidence: str | None) -> list:
    return [
        (
            order_id,
            step.from_status.value,
            step.to_status.value,
            actor.username,
            actor.role,
            outcome.state.assignee,
            note,
            evidence,
        )
        for step in outcome.steps
    ]


# One statement for all the rows, so the live channel's statement trigger sends one message per work order and
# action (a creation's reported -> registered -> dispatched arrives as one `created` message, not three).
_INSERT_AUDIT = (
    "INSERT INTO work_order_transitions (work_order_id, from_status, to_status, actor, role, assignee, note, evidence)"
    " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[])"
)


def _insert_audit(cur: psycopg.Cursor, rows: list[tuple]) -> None:
    if rows:
        cur.execute(_INSERT_AUDIT, [list(column) for column in zip(*rows, strict=True)])


def create_work_orders(conn: psycopg.Connection, orders: Sequence[NewWorkOrder]) -> list[int]:
    """Insert work orders, each walked by the system through reported -> registered (-> dispatched when an
    officer is on duty), every step in the audit trail. Returns the new ids in input order."""
    if not orders:
        return []
    plans = []
    for order in orders:
        state = OrderState(Status.REPORTED)
        steps = []
        for target in (Status.REGISTERED, Status.DISPATCHED) if order.assignee else (Status.REGISTERED,):
            outcome = transition(state, target, SYSTEM, assignee=order.assignee)
            steps.extend(outcome.steps)
            state = outcome.state
        plans.append((order, Outcome(state, tuple(steps))))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO work_orders (incident_id, kind, subtype, severity, status, assignee, grid_id, district,"
            " due_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [
                (
                    o.incident_id,
                    o.kind,
                    o.subtype,
                    o.severity,
                    out.state.status.value,
                    out.state.assignee,
                    o.grid_id,
                    o.district,
                    o.due_at,
                )
                for o, out in plans
            ],
            returning=True,
        )
        ids = []
        while True:
            row = cur.fetchone()
            assert row is not None
            ids.append(row[0])
            if not cur.nextset():
                break
        audit = []
        for order_id, (_, outcome) in zip(ids, plans, strict=True):
            audit.append(
                (
                    order_id,
                    None,
                    Status.REPORTED.value,
                    SYSTEM.username,
                    SYSTEM.role,
                    None,
                    "created from incident",
                    None,
                )
            )
            audit.extend(_audit_rows(order_id, outcome, SYSTEM, None, None))
        _insert_audit(cur, audit)
    return ids


def get_work_order(conn: psycopg.Connection, order_id: int, for_update: bool = False) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {COLUMNS} FROM work_orders w WHERE w.id = %s{' FOR UPDATE' if for_update else ''}", (order_id,)
        )
        return cur.fetchone()


def _check_assignee(conn: psycopg.Connection, username: str, roles: tuple[str, ...]) -> None:
    row = conn.execute("SELECT role, active FROM users WHERE username = %s", (username,)).fetchone()
    if row is None or not row[1]:
        raise IllegalTransition(f"assignee {username!r} is not an active user")
    if row[0] not in roles:
        raise IllegalTransition(f"assignee {username!r} is a {row[0]}; must be one of: {', '.join(roles)}")


def apply_transition(
    conn: psycopg.Connection,
    order_id: int,
    to: str,
    actor: Actor,
    assignee: str | None = None,
    note: str | None = None,
    evidence: str | None = None,
) -> dict[str, Any]:
    """Move the work order (row-locked for the transaction) and append the audit rows; returns the new row.

    Raises WorkOrderNotFound, IllegalTransition or NotPermitted (both TransitionError)."""
    row = get_work_order(conn, order_id, for_update=True)
    if row is None:
        raise WorkOrderNotFound(f"work order {order_id} not found")
    state = state_of(row)
    if to == Status.ESCALATED and assignee is None and row["grid_id"]:
        # Escalation goes to the grid's supervisor unless the reviewer names someone.
        sup = conn.execute("SELECT supervisor FROM grids WHERE grid_id = %s", (row["grid_id"],)).fetchone()
        assignee = sup[0] if sup else None
    outcome = transition(state, to, actor, assignee=assignee)
    if outcome.state.assignee and outcome.state.assignee != state.assignee:
        allowed = ("commander", "admin", "officer") if to == Status.ESCALATED else ("officer", "commander")
        _check_assignee(conn, outcome.state.assignee, allowed)
    new = outcome.state
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""
            UPDATE work_orders w SET status = %s, assignee = %s, handled_by = %s, suspended_from = %s,
                updated_at = now()
            WHERE w.id = %s RETURNING {COLUMNS}
            """,
            (
                new.status.value,
                new.assignee,
                new.handled_by,
                new.suspended_from.value if new.suspended_from else None,
                order_id,
            ),
        )
        updated = cur.fetchone()
        _insert_audit(cur, _audit_rows(order_id, outcome, actor, note, evidence))
    assert updated is not None
    return updated


def list_work_orders(conn: psycopg.Connection, filters: Filters) -> tuple[list[dict[str, Any]], int]:
    """Matching work orders, most urgent and newest first, and the total count before paging."""
    where, params = [], {}
    for name in ("status", "assignee", "kind", "severity"):
        value = getattr(filters, name)
        if value is not None:
            where.append(f"w.{name} = %({name})s")
            params[name] = value
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT count(*) AS n FROM work_orders w {clause}", params)
        count_row = cur.fetchone()
        cur.execute(
            f"SELECT {COLUMNS}, i.camera_id, i.lon, i.lat, i.evidence_event_id"
            f" FROM work_orders w JOIN incidents i ON i.id = w.incident_id {clause}"
            f" ORDER BY {_ORDER} LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": filters.limit, "offset": filters.offset},
        )
        rows = cur.fetchall()
    return rows, int(count_row["n"]) if count_row else 0


def list_transitions(conn: psycopg.Connection, order_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, from_status, to_status, actor, role, assignee, note, evidence, at"
            " FROM work_order_transitions WHERE work_order_id = %s ORDER BY id",
            (order_id,),
        )
        return cur.fetchall()
