"""The SLA timer: work orders past their deadline are escalated by the system, one level at a time.

Run by the scheduler (job `sla_escalation`, one replica at a time). Each order moves in its own transaction
through the same `apply_transition` as a person's action, so the audit trail records the system as the actor
and the breached deadline as the note. The first escalation goes to the grid's supervisor; an escalated order
that stays overdue goes on to the district's commander (a commander listed for its district, else a city-wide
one). Each escalation starts a new deadline from now (the SLA rules), so an order escalates again only when the
new holder lets that one pass too.

Only orders whose clock runs escalate: not `suspended` (挂账, the clock is paused), nor what is resolved,
verified or closed. An order nobody can take (no grid, a grid without supervisor, no commander above the one
holding it) is left out of the batch, so a pile of them never blocks the rest; the job's report names them
every run until a commander reassigns them or the configuration gets the missing person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from cloud_hub.rules.models import SlaRules
from cloud_hub.workorders.state_machine import SYSTEM, Status, TransitionError
from cloud_hub.workorders.store import apply_transition, overdue_stuck, overdue_to_escalate, still_overdue

log = logging.getLogger(__name__)

BATCH = 500  # orders per run; a backlog is worked off over the next runs
STUCK_LISTED = 100  # stuck orders named in a report (all are counted)


@dataclass(slots=True)
class EscalationReport:
    escalated: list[int] = field(default_factory=list)
    stuck: dict[int, str] = field(default_factory=dict)  # order id -> why it could not be escalated
    stuck_total: int = 0

    def describe(self) -> str:
        text = f"{len(self.escalated)} overdue work orders escalated"
        if self.stuck_total:
            shown = ", ".join(f"{order_id} ({why})" for order_id, why in sorted(self.stuck.items())[:10])
            more = f" and {self.stuck_total - min(10, len(self.stuck))} more" if self.stuck_total > 10 else ""
            text += f"; {self.stuck_total} overdue but nobody to escalate to: {shown}{more}"
        return text


def escalate_overdue(
    conn: psycopg.Connection, now: datetime, sla: SlaRules | None = None, batch: int = BATCH
) -> EscalationReport:
    """Escalate work orders whose `due_at` has passed; `conn` in autocommit mode (one transaction per order).
    `sla` gives the escalated orders their new deadlines (default: the built-in rules)."""
    report = EscalationReport()
    failed: dict[int, str] = {}
    for order_id, due_at in overdue_to_escalate(conn, now, batch):
        note = f"SLA breached: due {due_at.isoformat()}, escalated by the SLA timer"
        try:
            with conn.transaction():
                # Under the row lock: a person may have moved or re-dated it since the list was read.
                if not still_overdue(conn, order_id, now):
                    continue
                apply_transition(conn, order_id, Status.ESCALATED, SYSTEM, note=note, sla=sla, now=now)
        except TransitionError as exc:  # changed meanwhile, e.g. its grid lost its supervisor
            failed[order_id] = str(exc)
            continue
        report.escalated.append(order_id)
    stuck, total = overdue_stuck(conn, now, STUCK_LISTED)
    failed = {order_id: why for order_id, why in failed.items() if order_id not in stuck}
    report.stuck, report.stuck_total = {**stuck, **failed}, total + len(failed)
    if report.escalated:
        log.warning("SLA timer escalated work orders %s", report.escalated)
    return report
