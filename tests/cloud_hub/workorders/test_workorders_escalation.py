"""The SLA timer: orders nobody can take never block the batch, and an escalated order that stays overdue goes on
to the district's commander (one listed for its district, else a city-wide one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from workorder_rows import ALWAYS_SLA, add_grid, add_order, add_user, order

from cloud_hub.workorders.escalation import escalate_overdue

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_orders_nobody_can_take_do_not_block_the_rest(conn: psycopg.Connection) -> None:
    add_user(conn, "es-sup", "commander", districts=("es-d0",))
    add_user(conn, "es-off", "officer")
    orphan_grid = add_grid(conn, supervisor=None)
    long_ago = NOW - timedelta(days=3)
    stuck = [add_order(conn, assignee="es-off", grid_id=orphan_grid, due=long_ago) for _ in range(3)]
    stuck.append(add_order(conn, status="registered", grid_id=None, due=long_ago))  # in no grid
    grid = add_grid(conn, supervisor="es-sup", district="es-d0")
    escalatable = add_order(conn, assignee="es-off", grid_id=grid, district="es-d0", due=NOW - timedelta(minutes=5))

    report = escalate_overdue(conn, NOW, sla=ALWAYS_SLA, batch=2)  # fewer than the stuck ones

    assert report.escalated == [escalatable]
    assert sorted(report.stuck) == sorted(stuck) and report.stuck_total == 4
    assert "has no supervisor" in report.stuck[stuck[0]] and "no grid" in report.stuck[stuck[3]]
    assert "4 overdue but nobody to escalate to" in report.describe()


def test_an_escalated_order_that_stays_overdue_goes_to_the_districts_commander(conn: psycopg.Connection) -> None:
    add_user(conn, "es-sup2", "commander", districts=("es-d1",))
    add_user(conn, "es-chief", "commander", districts=("es-d1",))
    add_user(conn, "es-off2", "officer")
    grid = add_grid(conn, supervisor="es-sup2", district="es-d1")
    order_id = add_order(conn, assignee="es-off2", grid_id=grid, district="es-d1", due=NOW - timedelta(minutes=1))

    assert order_id in escalate_overdue(conn, NOW, sla=ALWAYS_SLA).escalated
    assert order(conn, order_id)["assignee"] == "es-sup2"
    later = order(conn, order_id)["due_at"] + timedelta(minutes=1)  # the supervisor let it pass too
    assert order_id in escalate_overdue(conn, later, sla=ALWAYS_SLA).escalated
    # Both commanders are listed for es-d1; the supervisor holds it, so it goes to the other one.
    assert order(conn, order_id)["assignee"] == "es-chief"
    audit = conn.execute(
        "SELECT from_status, to_status, actor, assignee FROM work_order_transitions WHERE work_order_id = %s"
        " AND to_status = 'escalated' ORDER BY id",
        (order_id,),
    ).fetchall()
    assert audit == [("dispatched", "escalated", "system", "es-sup2"), ("escalated", "escalated", "system", "es-chief")]


def test_without_a_district_commander_a_city_wide_one_takes_it(conn: psycopg.Connection) -> None:
    add_user(conn, "es-sup3", "commander", districts=("es-d2",))
    add_user(conn, "es-city", "commander")  # no district listed: the whole city
    grid = add_grid(conn, supervisor="es-sup3", district="es-d3")
    order_id = add_order(conn, status="escalated", assignee="es-sup3", grid_id=grid, district="es-d3",
                         due=NOW - timedelta(minutes=1))  # fmt: skip
    escalate_overdue(conn, NOW, sla=ALWAYS_SLA)
    held_by = order(conn, order_id)["assignee"]
    city_wide = {
        r[0]
        for r in conn.execute(
            "SELECT username FROM users u WHERE role = 'commander' AND active"
            " AND NOT EXISTS (SELECT 1 FROM user_districts d WHERE d.username = u.username)"
        ).fetchall()
    }
    assert held_by in city_wide and held_by != "es-sup3"
    # At the top: once with a city-wide commander and overdue again, it is reported, not moved in circles.
    conn.execute("UPDATE work_orders SET due_at = %s WHERE id = %s", (NOW - timedelta(minutes=1), order_id))
    report = escalate_overdue(conn, NOW, sla=ALWAYS_SLA)
    assert order_id not in report.escalated and f"already with {held_by}" in report.stuck[order_id]
