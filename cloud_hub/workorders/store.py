"""Data access for work orders: create (with the dispatch steps), transition (with an audit row each), query.

Who sees which order is `cloud_hub.auth.scope`'s rule, applied here as SQL (`scope_sql`). Deadlines follow the
SLA rules through every move (`_deadline`): reassigning or escalating starts a new deadline from now, suspending
keeps the working minutes left (due_at NULL while the clock is paused), resuming counts them from now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from cloud_hub.auth.scope import Scope, scope_sql
from cloud_hub.incidents.store import lock_situations
from cloud_hub.rules.models import SlaRules
from cloud_hub.workorders import photos as photo_store
from cloud_hub.workorders import sla as sla_math
from cloud_hub.workorders.state_machine import (
    CLOCK_RUNNING,
    FINAL,
    OPEN,
    SYSTEM,
    Actor,
    IllegalTransition,
    NoEscalationTarget,
    OrderState,
    Outcome,
    Status,
    transition,
)

COLUMNS = (
    "w.id, w.incident_id, w.kind, w.subtype, w.severity, w.status, w.assignee, w.handled_by, w.suspended_from, "
    "w.grid_id, w.district, w.due_at, w.sla_remaining_min, w.created_at, w.updated_at, w.queue"
)
_PLACE = "i.camera_id, i.lon, i.lat, i.evidence_event_id"
_SEVERITY_RANK = "CASE w.severity WHEN 'red' THEN 0 WHEN 'orange' THEN 1 WHEN 'yellow' THEN 2 ELSE 3 END"
Sort = Literal["urgency", "newest", "due"]
_ORDER: dict[str, str] = {
    "urgency": f"{_SEVERITY_RANK}, w.due_at NULLS LAST, w.id",  # most urgent colour, then the nearest deadline
    "newest": "w.created_at DESC, w.id DESC",
    "due": "w.due_at NULLS LAST, w.id",
}
_RUNNING = [s.value for s in CLOCK_RUNNING]
DEFAULT_SLA = SlaRules()  # the built-in rules, as when rules/hub/sla.yaml is missing


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
    note: str | None = None  # why it went where it went (routing steps), on the last creation step
    queue: str | None = None  # registered without assignee: the district whose commanders dispatch it


@dataclass(frozen=True, slots=True)
class Filters:
    status: str | None = None
    open: bool | None = None  # True: someone still has to act (state_machine.OPEN); False: verified or final
    assignee: str | None = None
    kind: str | None = None
    severity: str | None = None
    grid_id: str | None = None
    district: str | None = None
    queue: str | None = None  # waiting, unassigned, in this district's commander queue
    overdue: bool | None = None  # past due_at while the SLA clock runs (not resolved, not suspended, not done)
    due_before: datetime | None = None
    created_since: datetime | None = None
    sort: Sort = "urgency"
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


def _insert_audit(cur: psycopg.Cursor, rows: list[tuple]) -> list[int]:
    """Insert the rows; returns their ids."""
    if not rows:
        return []
    cur.execute(_INSERT_AUDIT + " RETURNING id", [list(column) for column in zip(*rows, strict=True)])
    return [row[0] if isinstance(row, tuple) else row["id"] for row in cur.fetchall()]


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
            " due_at, queue) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
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
                    o.queue if out.state.assignee is None else None,
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
        for order_id, (order, outcome) in zip(ids, plans, strict=True):
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
            steps = _audit_rows(order_id, outcome, SYSTEM, None, None)
            steps[-1] = (*steps[-1][:6], order.note, None)  # the routing note on the step it explains
            audit.extend(steps)
        _insert_audit(cur, audit)
    return ids


def get_work_order(conn: psycopg.Connection, order_id: int, for_update: bool = False) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {COLUMNS} FROM work_orders w WHERE w.id = %s{' FOR UPDATE' if for_update else ''}", (order_id,)
        )
        return cur.fetchone()


def visible(conn: psycopg.Connection, order_id: int, scope: Scope) -> bool:
    """Whether the order exists and `scope` may see it (and act on it, as far as the lifecycle lets them)."""
    where, params = scope_sql(scope, alias="w", assignee="w.assignee")
    row = conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM work_orders w WHERE w.id = %(id)s AND {where})", {**params, "id": order_id}
    ).fetchone()
    return bool(row and row[0])


_DETAIL = f"""
SELECT {COLUMNS}, {_PLACE}, i.kind AS i_kind, i.subtype AS i_subtype, i.status AS i_status,
    i.severity AS i_severity, i.confidence AS i_confidence, i.measurements AS i_measurements,
    i.first_seen AS i_first_seen, i.last_seen AS i_last_seen, i.ended_at AS i_ended_at, ev.model, ev.rule
FROM work_orders w
JOIN incidents i ON i.id = w.incident_id
LEFT JOIN LATERAL (
    SELECT e.payload -> 'model' AS model, e.payload -> 'rule' AS rule FROM events e
    WHERE e.event_id = coalesce(i.evidence_event_id, i.last_event_id) AND e.device_id = i.device_id
    LIMIT 1
) ev ON true
WHERE w.id = %(id)s AND {{scope}}
"""


def get_work_order_detail(conn: psycopg.Connection, order_id: int, scope: Scope) -> dict[str, Any] | None:
    """The order with its place, its incident (`incident`: kind, subtype, status, confidence, measurements, first and
    last seen, and the model and rule of its evidence event), or None when missing or outside `scope`."""
    where, params = scope_sql(scope, alias="w", assignee="w.assignee")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_DETAIL.format(scope=where), {**params, "id": order_id})
        row = cur.fetchone()
    if row is None:
        return None
    incident = {key[2:]: row.pop(key) for key in list(row) if key.startswith("i_")}
    for ref in ("model", "rule"):  # as the device sent them; anything but an object counts as absent
        value = row.pop(ref)
        incident[ref] = value if isinstance(value, dict) else None
    row["incident"] = incident
    return row


# Whom an overdue order escalates to, as SQL over `w`: first the grid's supervisor; once escalated (or when the
# supervisor already holds it), the district's commander (a commander listed for the order's district in
# user_districts, else a city-wide one: a commander with no district listed). NULL with the reason when nobody.
_ESCALATION_JOINS = """
LEFT JOIN grids g ON g.grid_id = w.grid_id
LEFT JOIN LATERAL (
    SELECT u.username FROM users u
    LEFT JOIN user_districts ud ON ud.username = u.username
    WHERE u.role = 'commander' AND u.active
    GROUP BY u.username
    HAVING bool_or(ud.district_id = w.district) OR count(ud.district_id) = 0
    ORDER BY bool_or(ud.district_id = w.district) DESC NULLS LAST, u.username
    LIMIT 1
) dc ON true
"""
_ESCALATION_TARGET = """
CASE WHEN w.status <> 'escalated' AND g.supervisor IS NULL THEN NULL
     WHEN w.status <> 'escalated' AND g.supervisor IS DISTINCT FROM w.assignee THEN g.supervisor
     ELSE nullif(dc.username, w.assignee) END
"""
_ESCALATION_WHY = """
CASE WHEN w.status <> 'escalated' AND w.grid_id IS NULL THEN 'it lies in no grid, so it has no supervisor'
     WHEN w.status <> 'escalated' AND g.supervisor IS NULL THEN 'grid ' || w.grid_id || ' has no supervisor'
     WHEN dc.username IS NULL THEN 'no commander is responsible for district ' || coalesce(w.district, '(none)')
         || ' and there is no city-wide commander'
     ELSE 'it is already with ' || dc.username || ', the district''s commander' END
"""


def escalation_target(conn: psycopg.Connection, order_id: int) -> tuple[str | None, str]:
    """(whom the order escalates to now, or None; why nobody when None)."""
    row = conn.execute(
        f"SELECT {_ESCALATION_TARGET}, {_ESCALATION_WHY} FROM work_orders w {_ESCALATION_JOINS} WHERE w.id = %s",
        (order_id,),
    ).fetchone()
    return (row[0], row[1]) if row else (None, "work order not found")


def overdue_to_escalate(conn: psycopg.Connection, now: datetime, batch: int) -> list[tuple[int, datetime]]:
    """(id, due_at) of overdue orders whose clock runs and that have someone to escalate to, most overdue first.
    Orders nobody can take (see `overdue_stuck`) are left out, so they never crowd out the rest."""
    return conn.execute(
        f"SELECT w.id, w.due_at FROM work_orders w {_ESCALATION_JOINS}"
        f" WHERE w.due_at < %(now)s AND w.status = ANY(%(running)s) AND ({_ESCALATION_TARGET}) IS NOT NULL"
        " ORDER BY w.due_at, w.id LIMIT %(batch)s",
        {"now": now, "running": _RUNNING, "batch": batch},
    ).fetchall()


def overdue_stuck(conn: psycopg.Connection, now: datetime, limit: int) -> tuple[dict[int, str], int]:
    """Overdue orders nobody can be escalated to: up to `limit` of them (id -> why) and how many there are."""
    rows = conn.execute(
        f"SELECT w.id, {_ESCALATION_WHY}, count(*) OVER () FROM work_orders w {_ESCALATION_JOINS}"
        f" WHERE w.due_at < %(now)s AND w.status = ANY(%(running)s) AND ({_ESCALATION_TARGET}) IS NULL"
        " ORDER BY w.due_at, w.id LIMIT %(limit)s",
        {"now": now, "running": _RUNNING, "limit": limit},
    ).fetchall()
    return {r[0]: r[1] for r in rows}, (rows[0][2] if rows else 0)


def still_overdue(conn: psycopg.Connection, order_id: int, now: datetime) -> bool:
    """Under the row lock (for this transaction): is the order still overdue with its clock running?"""
    row = conn.execute(
        "SELECT status = ANY(%s) AND due_at < %s FROM work_orders WHERE id = %s FOR UPDATE", (_RUNNING, now, order_id)
    ).fetchone()
    return bool(row and row[0])


def _check_assignee(conn: psycopg.Connection, username: str, roles: tuple[str, ...]) -> None:
    row = conn.execute("SELECT role, active FROM users WHERE username = %s", (username,)).fetchone()
    if row is None or not row[1]:
        raise IllegalTransition(f"assignee {username!r} is not an active user")
    if row[0] not in roles:
        raise IllegalTransition(f"assignee {username!r} is a {row[0]}; must be one of: {', '.join(roles)}")


def _deadline(
    row: dict[str, Any], before: OrderState, after: OrderState, requested: Status, sla: SlaRules, now: datetime
) -> tuple[datetime | None, float | None]:
    """(due_at, sla_remaining_min) after a move: a new deadline from now for a new holder (reassigned, escalated),
    the clock paused while suspended (minutes left kept, no due_at), resumed from the minutes left."""
    due, left = row["due_at"], row["sla_remaining_min"]
    kind, severity = row["kind"], row["severity"]
    if requested in (Status.REASSIGNED, Status.ESCALATED):
        return sla_math.due_at(sla, kind, severity, now), None
    if after.status is Status.SUSPENDED:
        return None, sla_math.remaining_minutes(sla, severity, due, now) if due is not None else left
    if before.status is Status.SUSPENDED and after.status not in FINAL and left is not None:
        return sla_math.resume_due_at(sla, severity, left, now), None
    return due, left


def _lock_situation(conn: psycopg.Connection, order_id: int) -> None:
    # Closing writes the incident, which ingest also writes under this lock: take it first (before the order's row
    # lock, in ingest's order) so ingest can neither reopen the incident nor deadlock with us.
    row = conn.execute(
        "SELECT i.device_id, i.incident_key FROM work_orders w JOIN incidents i ON i.id = w.incident_id"
        " WHERE w.id = %s",
        (order_id,),
    ).fetchone()
    if row is not None:
        lock_situations(conn, [(row[0], row[1])])


def apply_transition(
    conn: psycopg.Connection,
    order_id: int,
    to: str,
    actor: Actor,
    assignee: str | None = None,
    note: str | None = None,
    evidence: str | None = None,
    photos: Sequence[UUID] = (),
    sla: SlaRules | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move the work order (row-locked for the transaction) and append the audit rows; returns the new row.

    `photos` (uploaded photos of this order) become the evidence of the transition. `sla` decides new deadlines
    (default: the built-in rules). Closing the order (closed, false_alarm) closes its incident too.
    Raises WorkOrderNotFound, IllegalTransition or NotPermitted (both TransitionError), PhotoRefused."""
    sla, now = sla or DEFAULT_SLA, now or datetime.now(UTC)
    if to in FINAL:
        _lock_situation(conn, order_id)
    row = get_work_order(conn, order_id, for_update=True)
    if row is None:
        raise WorkOrderNotFound(f"work order {order_id} not found")
    state = state_of(row)
    why = ""
    if to == Status.ESCALATED and assignee is None:
        assignee, why = escalation_target(conn, order_id)
    try:
        outcome = transition(state, to, actor, assignee=assignee)
    except NoEscalationTarget:
        raise IllegalTransition(f"work order {order_id} cannot be escalated: {why}; name the assignee") from None
    if outcome.state.assignee and outcome.state.assignee != state.assignee:
        allowed = ("commander", "admin", "officer") if to == Status.ESCALATED else ("officer", "commander")
        _check_assignee(conn, outcome.state.assignee, allowed)
    linked = photo_store.lock_for_transition(conn, order_id, photos)
    new = outcome.state
    due, left = _deadline(row, state, new, Status(to), sla, now)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""
            UPDATE work_orders w SET status = %s, assignee = %s, handled_by = %s, suspended_from = %s,
                due_at = %s, sla_remaining_min = %s, updated_at = now(),
                queue = CASE WHEN %s THEN coalesce(w.queue, w.district) END
            WHERE w.id = %s RETURNING {COLUMNS}
            """,
            (
                new.status.value,
                new.assignee,
                new.handled_by,
                new.suspended_from.value if new.suspended_from else None,
                due,
                left,
                # Taken back with nobody assigned: it waits in the district's commander queue until dispatched.
                new.status == Status.REGISTERED and new.assignee is None,
                order_id,
            ),
        )
        updated = cur.fetchone()
        transition_ids = _insert_audit(cur, _audit_rows(order_id, outcome, actor, note, evidence))
    assert updated is not None
    photo_store.link_photos(conn, linked, min(transition_ids))  # the requested step (reassigned, not dispatched)
    if new.status in FINAL:
        conn.execute(
            "UPDATE incidents SET status = 'closed', ended_at = coalesce(ended_at, now()), updated_at = now()"
            " WHERE id = %s AND status <> 'closed'",
            (row["incident_id"],),
        )
    return updated


def list_work_orders(
    conn: psycopg.Connection, filters: Filters, scope: Scope, now: datetime | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The work orders `scope` may see that match `filters`, sorted, and the total count before paging."""
    where, params = scope_sql(scope, alias="w", assignee="w.assignee")
    clauses = [f"({where})"]
    for name in ("status", "assignee", "kind", "severity", "grid_id", "district", "queue"):
        value = getattr(filters, name)
        if value is not None:
            clauses.append(f"w.{name} = %({name})s")
            params[name] = value
    if filters.open is not None:
        clauses.append(f"{'' if filters.open else 'NOT '}(w.status = ANY(%(open_statuses)s))")
        params["open_statuses"] = sorted(s.value for s in OPEN)
    if filters.overdue is not None:
        late = "(w.due_at IS NOT NULL AND w.due_at < %(now)s AND w.status = ANY(%(running)s))"
        clauses.append(late if filters.overdue else f"NOT {late}")
        params.update(now=now or datetime.now(UTC), running=_RUNNING)
    if filters.due_before is not None:
        clauses.append("w.due_at < %(due_before)s")
        params["due_before"] = filters.due_before
    if filters.created_since is not None:
        clauses.append("w.created_at >= %(created_since)s")
        params["created_since"] = filters.created_since
    clause = " AND ".join(clauses)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT count(*) AS n FROM work_orders w WHERE {clause}", params)
        count_row = cur.fetchone()
        cur.execute(
            f"SELECT {COLUMNS}, {_PLACE} FROM work_orders w JOIN incidents i ON i.id = w.incident_id"
            f" WHERE {clause} ORDER BY {_ORDER[filters.sort]} LIMIT %(limit)s OFFSET %(offset)s",
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
