"""A situation's end and its work order (issue 10 defects): an incident that opened and ended before the hub heard of
it (one batch: a replay after an outage) is registered for review, not dispatched against a running deadline; an
end while the order is open is noted on the order; `cityops demo` reports every order it caused and who got it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cityops.contract.messages import Event, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_CAMERA_ID, DEMO_GRIDS, DEMO_SECOND_SHIFT, seed_demo
from cloud_hub.stack.demo import find_work_orders, summary
from cloud_hub.workorders import store as work_orders
from cloud_hub.workorders.state_machine import Actor

RULES_DIR = Path(__file__).resolve().parents[3] / "rules" / "hub"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
    return database_url


@pytest.fixture
def conn(seeded: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded) as connection:
        yield connection
        connection.rollback()


@pytest.fixture
def processor(conn: psycopg.Connection) -> IncidentProcessor:
    return IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES_DIR), clock=lambda: NOW)


def ingested(phase: str, key: str, at_s: float, seq: int, **kw: Any) -> IngestedEvent:
    event = Event(
        event_id=new_event_id(), seq=seq, ts=NOW + timedelta(seconds=at_s), kind="illegal_parking",
        subtype="no_parking_zone", phase=phase, incident_key=key, camera_id=DEMO_CAMERA_ID, zone_id="zone-a", **kw,
    )  # fmt: skip
    return IngestedEvent(device_id="edge-demo-01", event=event)


def trail(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT from_status, to_status, actor, assignee, note FROM work_order_transitions ORDER BY id"
    ).fetchall()


def test_a_situation_that_opened_and_ended_in_one_batch_is_registered_for_review(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    # Replayed after an outage: the car came and went an hour ago.
    key = "cam-demo-01/zone-a/track-21"
    processor(
        conn, [ingested("start", key, -3600, 1), ingested("update", key, -3000, 2), ingested("end", key, -2400, 3)]
    )
    assert conn.execute("SELECT status FROM incidents").fetchall() == [("ended",)]
    assert conn.execute("SELECT status, assignee, due_at, district FROM work_orders").fetchall() == [
        ("registered", None, None, "nj-gulou")
    ]
    steps = trail(conn)
    assert [s[:4] for s in steps] == [(None, "reported", "system", None), ("reported", "registered", "system", None)]
    assert steps[-1][4].startswith(
        "situation ended before it could be dispatched (seen 2026-11-23 01:00:00 to 01:20:00"
    )
    assert steps[-1][4].endswith("registered for review, no deadline")


def test_an_end_while_the_order_is_open_is_noted_on_the_order(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    key = "cam-demo-01/zone-a/track-22"
    processor(conn, [ingested("start", key, 0, 1)])
    (order_id,) = conn.execute("SELECT id FROM work_orders").fetchone()
    work_orders.apply_transition(conn, order_id, "accepted", Actor("officer1", "officer"), now=NOW)
    processor(conn, [ingested("end", key, 120, 2)])  # the car left before the officer got there
    assert conn.execute("SELECT status, assignee FROM work_orders").fetchall() == [("accepted", "officer1")]
    last = trail(conn)[-1]
    assert last[:4] == ("accepted", "accepted", "system", "officer1")
    assert last[4] == (
        "situation no longer detected: edge-demo-01 (cam-demo-01/zone-a/track-22) reported its end at 2026-11-23"
        " 02:02:00 UTC; confirm on site and resolve, or a reviewer closes it"
    )
    # The officer carries on as the lifecycle allows.
    work_orders.apply_transition(conn, order_id, "on_site", Actor("officer1", "officer"), now=NOW)
    assert conn.execute("SELECT status FROM work_orders").fetchall() == [("on_site",)]


def test_an_end_after_the_officer_resolved_still_verifies_the_order(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    key = "cam-demo-01/zone-a/track-23"
    processor(conn, [ingested("start", key, 0, 1)])
    (order_id,) = conn.execute("SELECT id FROM work_orders").fetchone()
    for to in ("accepted", "on_site", "resolved"):
        work_orders.apply_transition(conn, order_id, to, Actor("officer1", "officer"), now=NOW)
    processor(conn, [ingested("end", key, 300, 2)])
    assert conn.execute("SELECT status FROM work_orders").fetchall() == [("verified",)]
    assert [s[:3] for s in trail(conn)][-1] == ("resolved", "verified", "system")


def test_the_demo_reports_every_order_and_who_got_it() -> None:
    since = datetime(2026, 11, 23, tzinfo=UTC)
    cars = [
        {"id": n, "incident_id": 10 + n, "kind": "illegal_parking", "subtype": "no_parking_zone", "severity": "yellow",
         "status": "dispatched", "assignee": who, "grid_id": "nj-gulou-01", "due_at": "2026-11-23T03:00:00Z"}
        for n, who in ((5, "officer1"), (6, "officer2"), (7, "officer1"), (8, "officer2"))
    ]  # fmt: skip
    earlier = {**cars[0], "id": 2, "incident_id": 12}
    incidents = [{"id": 12, "last_seen": (since + timedelta(seconds=30)).isoformat()}]
    found = find_work_orders([*cars, earlier], incidents, {2}, since)
    assert [(d.work_order["id"], d.new) for d in found] == [(5, True), (6, True), (7, True), (8, True), (2, False)]
    info = dict(hub_url="http://hub", docs_url="http://hub/docs", mqtt_host="h", mqtt_port=1, database_url="db",
                database_kind="postgres", admin_user="admin", admin_password="pw")  # fmt: skip
    text = summary(info, found, [], Path("edge.log"))
    assert "work orders created this run: 4" in text
    assert all(f"#{n}" in text for n in (2, 5, 6, 7, 8))
    assert "by assignee: officer1 3, officer2 2" in text


def test_the_demo_street_cars_are_shared_out_between_its_two_officers(conn: psycopg.Connection) -> None:
    assert DEMO_SECOND_SHIFT["grid_id"] == DEMO_GRIDS[0].grid_id
    conn.execute(  # what `cityops demo` adds through the admin roster API
        "INSERT INTO rosters (roster_id, grid_id, username) VALUES (%(roster_id)s, %(grid_id)s, %(username)s)",
        DEMO_SECOND_SHIFT,
    )
    processor = IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES_DIR), clock=lambda: NOW)
    boxes = ([0.25, 0.30, 0.33, 0.38], [0.40, 0.30, 0.48, 0.38], [0.55, 0.30, 0.63, 0.38], [0.70, 0.30, 0.78, 0.38])
    processor(
        conn,
        [ingested("start", f"cam-demo-01/zone-a/track-{n}", 0, n, bbox=box) for n, box in enumerate(boxes, start=1)],
    )
    assert conn.execute("SELECT assignee FROM work_orders ORDER BY id").fetchall() == [
        ("officer1",), ("officer2",), ("officer1",), ("officer2",)
    ]  # fmt: skip
