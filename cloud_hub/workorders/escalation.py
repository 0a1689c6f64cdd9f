"""The SLA timer: work orders past their deadline are escalated to the grid's supervisor by the system.

Run by the scheduler (job `sla_escalation`, one replica at a time). Each order moves in its own transaction
through the same `apply_transition` as a person's action, so the audit trail records the system as the actor
and the breached deadline as the note. Waiting states do not escalate: `suspended` (挂账, the clock waits on
something outside the officer's control), and what is resolved, verified or closed. An order whose grid has no
supervisor cannot be escalated automatically; it stays overdue and the job's report names it every run until a
commander reassigns it or the grid gets a supervisor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from cloud_hub.workorders.state_machine import SYSTEM, Status, TransitionError
from cloud_hub.workorders.store import apply_transition

log = logging.getLogger(__name__)

# Open states whose clock runs: the order is waiting for an officer or held by one.
ESCALATE_FROM = (Status.REGISTERED, Status.DISPATCHED, Status.ACCEPTED, Status.ON_SITE, Status.RETURNED)
BATCH = 500  # orders per run; a backlog is worked off over the next runs


@dataclass(slots=True)
class EscalationReport:
    escalated: list[int] = field(default_factory=list)
    stuck: dict[int, str] = field(default_factory=dict)  # order id -> why it could not be escalated

    def describe(self) -> str:
        text = f"{len(self.escalated)} overdue work orders escalated"
        if self.stuck:
            shown = ", ".join(f"{order_id} ({why})" for order_id, why in sorted(self.stuck.items())[:10])
            more = f" and {len(self.stuck) - 10} more" if len(self.stuck) > 10 else ""
            text += f"; {len(self.stuck)} overdue but not escalated: {shown}{more}"
        return text


def escalate_overdue(conn: psycopg.Connection, now: datetime, batch: int = BATCH) -> EscalationReport:
    """Escalate work orders whose `due_at` has passed; `conn` in autocommit mode (one transaction per order)."""
    rows = conn.execute(
        "SELECT id, due_at FROM work_orders WHERE due_at < %s AND status = ANY(%s) ORDER BY due_at, id LIMIT %s",
        (now, [s.value for s in ESCALATE_FROM], batch),
    ).fetchall()
    report = EscalationReport()
    for order_id, due_at in rows:
        note = f"SLA breached: due {due_at.isoformat()}, escalated by the SLA timer"
        try:
            with conn.transaction():
                # Under the row lock: a person may have moved or re-dated it since the list was read.
                current = conn.execute(
                    "SELECT status = ANY(%s) AND due_at < %s FROM work_orders WHERE id = %s FOR UPDATE",
                    ([s.value for s in ESCALATE_FROM], now, order_id),
                ).fetchone()
                if current is None or not current[0]:
                    continue
                apply_transition(conn, order_id, Status.ESCALATED, SYSTEM, note=note)
        except TransitionError as exc:  # e.g. the grid has no supervisor
            report.stuck[order_id] = str(exc)
            continue
        report.escalated.append(order_id)
    if report.escalated:
        log.warning("SLA timer escalated work orders %s", report.escalated)
    return report
