"""Deadlines through the lifecycle (issue 10's defects), on the real database: a new holder gets a new deadline,
a suspended order's clock pauses, a rising severity tightens the deadline, a finished order closes its incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from workorder_rows import ALWAYS_SLA, MINUTES, add_grid, add_order, add_user, order

from cloud_hub.incidents.store import sync_work_order_severity
from cloud_hub.workorders.escalation import escalate_overdue
from cloud_hub.workorders.state_machine import SYSTEM, Actor, NotPermitted
from cloud_hub.workorders.store import apply_transition

COMMANDER = Actor("wd-cmd", "commander")
OFFICER = Actor("wd-off1", "officer")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def people(conn: psycopg.Connection) -> None:
    add_user(conn, "wd-cmd", "commander")
    add_user(conn, "wd-sup", "commander")
    add_user(conn, "wd-off1", "officer")
    add_user(conn, "wd-off2", "officer")


def test_reassigning_an_overdue_order_gives_it_a_new_deadline(conn: psycopg.Connection) -> None:
    order_id = add_order(conn, assignee="wd-off1", due=NOW - timedelta(hours=1))
    apply_transition(conn, order_id, "reassigned", COMMANDER, assignee="wd-off2", sla=ALWAYS_SLA, now=NOW)
    assert order(conn, order_id)["due_at"] == NOW + timedelta(minutes=MINUTES["orange"])


def test_an_escalated_order_is_not_escalated_again_a_minute_later(conn: psycopg.Connection) -> None:
    grid = add_grid(conn, supervisor="wd-sup")
    order_id = add_order(conn, assignee="wd-off1", grid_id=grid, due=NOW - timedelta(hours=1))
    report = escalate_overdue(conn, NOW, sla=ALWAYS_SLA)
    assert order_id in report.escalated
    after = order(conn, order_id)
    assert (after["status"], after["assignee"]) == ("escalated", "wd-sup")
    assert after["due_at"] == NOW + timedelta(minutes=MINUTES["orange"])
    assert order_id not in escalate_overdue(conn, NOW + timedelta(minutes=1), sla=ALWAYS_SLA).escalated


def test_a_suspended_orders_clock_pauses_and_resumes_with_the_minutes_left(conn: psycopg.Connection) -> None:
    order_id = add_order(conn, status="accepted", assignee="wd-off1", due=NOW + timedelta(minutes=100))
    apply_transition(conn, order_id, "suspended", OFFICER, note="waiting for the tow truck", sla=ALWAYS_SLA, now=NOW)
    paused = order(conn, order_id)
    assert (paused["status"], paused["due_at"], paused["sla_remaining_min"]) == ("suspended", None, 100)
    # Two days later, long past the old deadline: nothing escalates a paused order.
    later = NOW + timedelta(days=2)
    assert order_id not in escalate_overdue(conn, later, sla=ALWAYS_SLA).escalated
    apply_transition(conn, order_id, "accepted", OFFICER, sla=ALWAYS_SLA, now=later)
    resumed = order(conn, order_id)
    assert (resumed["status"], resumed["due_at"]) == ("accepted", later + timedelta(minutes=100))
    assert resumed["sla_remaining_min"] is None


def test_suspending_an_overdue_order_keeps_no_minutes(conn: psycopg.Connection) -> None:
    order_id = add_order(conn, status="on_site", assignee="wd-off1", due=NOW - timedelta(minutes=5))
    apply_transition(conn, order_id, "suspended", OFFICER, sla=ALWAYS_SLA, now=NOW)
    apply_transition(conn, order_id, "on_site", OFFICER, sla=ALWAYS_SLA, now=NOW + timedelta(hours=1))
    assert order(conn, order_id)["due_at"] == NOW + timedelta(hours=1)  # due at once: still overdue


def _raise_severity(conn: psycopg.Connection, order_id: int, severity: str) -> int:
    incident = order(conn, order_id)["incident_id"]
    conn.execute("UPDATE incidents SET severity = %s WHERE id = %s", (severity, incident))
    return incident


def test_a_rising_severity_tightens_the_deadline_and_a_milder_one_keeps_it(conn: psycopg.Connection) -> None:
    far = NOW + timedelta(minutes=MINUTES["yellow"])
    worse = add_order(conn, severity="yellow", assignee="wd-off1", due=far)
    milder = add_order(conn, severity="yellow", assignee="wd-off1", due=far)
    already_tight = add_order(conn, severity="yellow", assignee="wd-off1", due=NOW + timedelta(minutes=10))
    paused = add_order(conn, status="suspended", severity="yellow", assignee="wd-off1", suspended_from="accepted")
    conn.execute("UPDATE work_orders SET sla_remaining_min = 200 WHERE id = %s", (paused,))
    ids = [_raise_severity(conn, worse, "red"), _raise_severity(conn, milder, "blue")]
    ids += [_raise_severity(conn, already_tight, "orange"), _raise_severity(conn, paused, "red")]

    sync_work_order_severity(conn, ids, sla=ALWAYS_SLA, now=NOW)

    assert (order(conn, worse)["severity"], order(conn, worse)["due_at"]) == ("red", NOW + timedelta(minutes=30))
    assert (order(conn, milder)["severity"], order(conn, milder)["due_at"]) == ("blue", far)
    assert order(conn, already_tight)["due_at"] == NOW + timedelta(minutes=10)  # never later than it was
    assert order(conn, paused)["sla_remaining_min"] == MINUTES["red"]


def test_closing_a_work_order_closes_its_incident(conn: psycopg.Connection) -> None:
    rejected = add_order(conn, assignee="wd-off1")
    apply_transition(conn, rejected, "false_alarm", COMMANDER, note="a shadow, not a car", sla=ALWAYS_SLA, now=NOW)
    verified = add_order(conn, status="verified", assignee="wd-off1", handled_by="wd-off1")
    apply_transition(conn, verified, "closed", COMMANDER, sla=ALWAYS_SLA, now=NOW)
    still_open = add_order(conn, status="on_site", assignee="wd-off1")
    apply_transition(conn, still_open, "resolved", OFFICER, sla=ALWAYS_SLA, now=NOW)
    status = {
        order_id: conn.execute(
            "SELECT i.status, i.ended_at IS NOT NULL FROM incidents i JOIN work_orders w ON w.incident_id = i.id"
            " WHERE w.id = %s",
            (order_id,),
        ).fetchone()
        for order_id in (rejected, verified, still_open)
    }
    assert status == {rejected: ("closed", True), verified: ("closed", True), still_open: ("open", False)}


def test_the_assignee_cannot_turn_a_resolved_order_into_a_false_alarm(conn: psycopg.Connection) -> None:
    order_id = add_order(conn, status="resolved", assignee="wd-off1", handled_by="wd-off1")
    with pytest.raises(NotPermitted, match="commander or admin"):
        apply_transition(conn, order_id, "false_alarm", OFFICER, sla=ALWAYS_SLA, now=NOW)
    assert order(conn, order_id)["status"] == "resolved"


def test_the_system_escalates_without_rules_given_using_the_built_in_ones(conn: psycopg.Connection) -> None:
    grid = add_grid(conn, supervisor="wd-sup")
    order_id = add_order(conn, assignee="wd-off1", grid_id=grid, due=NOW - timedelta(minutes=1))
    apply_transition(conn, order_id, "escalated", SYSTEM, now=NOW)
    assert order(conn, order_id)["due_at"] > NOW
