"""Routing fallbacks (neighbouring grids, the grid's supervisor, the district's commander queue) and load balancing
among the officers on duty (fewest open orders, then in turn): pure tables, then the IncidentProcessor against a
real PostgreSQL, where the turn lives in the database so every replica continues it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cityops.contract.messages import Event, new_event_id
from cloud_hub.auth.scope import Scope
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.assign import Pool, assign, balance, pool_for
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.dispatch.routing import Grid, GridIndex, RosterEntry
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.rules.loader import RulesStore
from cloud_hub.workorders import store as work_orders
from cloud_hub.workorders.state_machine import Actor

RULES_DIR = Path(__file__).resolve().parents[3] / "rules" / "hub"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
SIZE = 0.01


def square(grid_id: str, col: int, row: int, **kw: Any) -> Grid:
    west, south = 120 + col * SIZE, 30 + row * SIZE
    ring = [[west, south], [west + SIZE, south], [west + SIZE, south + SIZE], [west, south + SIZE], [west, south]]
    return Grid.from_geojson(grid_id, {"type": "Polygon", "coordinates": [ring]}, **kw)


def centre(col: int, row: int) -> dict[str, float]:
    return {"lon": 120 + (col + 0.5) * SIZE, "lat": 30 + (row + 0.5) * SIZE}


# t-a (nobody on duty, supervisor sup-a) | t-b (off-b) side by side; t-c touches t-a at one corner only (not a
# neighbour); t-e stands alone (nobody, no supervisor); t-f has two officers on duty and a backup.
GRIDS = [
    square("t-a", 0, 0, district_id="t-d", supervisor="sup-a"),
    square("t-b", 1, 0, district_id="t-d"),
    square("t-c", 1, 1, district_id="t-d"),
    square("t-e", 5, 5, district_id="t-d"),
    square("t-f", 8, 0, district_id="t-d"),
]
ROSTERS = [
    RosterEntry("t-b", "off-b"),
    RosterEntry("t-c", "off-c"),
    RosterEntry("t-f", "off-f2"),
    RosterEntry("t-f", "off-f1"),
    RosterEntry("t-f", "off-f0-backup", priority=200),
]
USERS = {"off-b": "officer", "off-c": "officer", "off-f1": "officer", "off-f2": "officer", "sup-a": "commander",
         "off-f0-backup": "officer"}  # fmt: skip
INDEX = GridIndex(GRIDS, ROSTERS)
BOTH = ("neighbour_grids", "supervisor")


# ---- pure --------------------------------------------------------------------------------------------------------


def test_officers_on_duty_are_the_best_priority_tier_by_name() -> None:
    assert INDEX.officers_on_duty("t-f", NOW) == ["off-f1", "off-f2"]  # the backup only when they are off
    assert GridIndex(GRIDS, [RosterEntry("t-f", "off-f0-backup", priority=200)]).officers_on_duty("t-f", NOW) == [
        "off-f0-backup"
    ]
    assert INDEX.officers_on_duty("t-a", NOW) == []


def test_neighbours_share_a_border_not_a_corner() -> None:
    overlapping = square("t-o", 0, 0)  # drawn over t-a: shares more than a border, still a neighbour
    index = GridIndex([*GRIDS, overlapping], ROSTERS)
    assert index.neighbours("t-a") == ("t-b", "t-o")
    assert INDEX.neighbours("t-b") == ("t-a", "t-c")
    assert INDEX.neighbours("t-e") == ()
    assert INDEX.neighbours("nope") == ()


@pytest.mark.parametrize(
    ("grid", "fallbacks", "kind", "officers", "said"),
    [
        ("t-f", BOTH, "grid", ("off-f1", "off-f2"), ()),
        ("t-a", BOTH, "neighbour_grids", ("off-b",), ("no officer on duty in grid t-a",)),
        ("t-a", ("supervisor",), "supervisor", ("sup-a",), ("no officer on duty in grid t-a",)),
        ("t-a", (), "queue", (), ("no officer on duty in grid t-a",)),
        ("t-e", BOTH, "queue", (), ("no officer on duty in grid t-e", "it has no neighbouring grid",
                                    "grid t-e has no (active) supervisor")),
        (None, BOTH, "queue", (), ("no grid contains (1, 2)",)),
    ],
)  # fmt: skip
def test_pool_for(grid: str | None, fallbacks: tuple, kind: str, officers: tuple, said: tuple) -> None:
    pool = pool_for(INDEX, grid, NOW, fallbacks, "no grid contains (1, 2)")
    assert (pool.kind, pool.officers, pool.steps) == (kind, officers, said)


def test_pool_for_when_the_neighbours_are_off_too() -> None:
    index = GridIndex(GRIDS, [e for e in ROSTERS if e.grid_id != "t-b"])
    pool = pool_for(index, "t-a", NOW, BOTH)
    assert (pool.kind, pool.officers) == ("supervisor", ("sup-a",))
    assert pool.steps == ("no officer on duty in grid t-a", "nor in its neighbouring grids (t-b)")


@pytest.mark.parametrize(
    ("officers", "open_orders", "last", "expected"),
    [
        (["a", "b"], {}, None, "a"),  # nobody has a turn yet: the first
        (["a", "b"], {}, "a", "b"),  # in turn
        (["a", "b"], {}, "b", "a"),  # wrapping around
        (["a", "b", "c"], {"a": 1}, "b", "c"),  # the least loaded, in turn among them
        (["a", "b", "c"], {"b": 1, "c": 1}, "c", "a"),  # fewest wins over the turn
        (["a", "b"], {"a": 3, "b": 2}, "b", "b"),  # never just "the first by username"
        (["a", "b"], {}, "zz-gone", "a"),  # the last one left the pool
    ],
)
def test_balance(officers: list[str], open_orders: dict[str, int], last: str | None, expected: str) -> None:
    assert balance(officers, open_orders, last) == expected


def test_a_batch_is_shared_out_and_the_turn_moves_on() -> None:
    pool = Pool("grid", ("off-f1", "off-f2"), rotation="t-f", duty_grid=dict.fromkeys(("off-f1", "off-f2"), "t-f"))
    queue = Pool("queue", steps=("no officer on duty in grid t-e",))
    routes, turns = assign([(pool, "t-d")] * 4 + [(queue, "t-d")], {"off-f2": 1}, {"t-f": "off-f1"})
    assert [r.assignee for r in routes] == ["off-f1", "off-f2", "off-f1", "off-f2", None]
    assert turns == {"t-f": "off-f2"}
    assert routes[0].note.startswith("dispatched to off-f1 (on duty in grid t-f; fewest open orders")
    assert routes[4] == routes[4].__class__(
        None, "t-d", "no officer on duty in grid t-e; left registered in the commander queue of district t-d"
    )


# ---- against the database --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO districts (district_id, name) VALUES ('t-d', 'Test district')")
        for username, role in USERS.items():
            ensure_user(conn, username, "not-used-here-1", role)
        for grid in GRIDS:
            conn.execute(
                "INSERT INTO grids (grid_id, district_id, name, polygon, supervisor) VALUES (%s, %s, %s, %s, %s)",
                (grid.grid_id, grid.district_id, grid.grid_id, psycopg.types.json.Jsonb(grid.polygon.__geo_interface__),
                 grid.supervisor),
            )  # fmt: skip
        for n, entry in enumerate(ROSTERS):
            conn.execute(
                "INSERT INTO rosters (roster_id, grid_id, username, priority) VALUES (%s, %s, %s, %s)",
                (f"t/{n}", entry.grid_id, entry.username, entry.priority),
            )
    return database_url


@pytest.fixture
def conn(world: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(world) as connection:
        yield connection
        connection.rollback()


def processor(conn: psycopg.Connection, rules_dir: Path = RULES_DIR) -> IncidentProcessor:
    return IncidentProcessor(GridDirectory.load(conn), RulesStore(rules_dir), clock=lambda: NOW)


_seq = iter(range(1, 1_000_000))


def start(col: int, row: int, key: str) -> IngestedEvent:
    event = Event(
        event_id=new_event_id(), seq=next(_seq), ts=NOW, kind="illegal_parking", phase="start", incident_key=key,
        location=centre(col, row),
    )  # fmt: skip
    return IngestedEvent("edge-t", event)


def orders(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT w.status, w.assignee, w.queue, w.due_at IS NOT NULL, t.note FROM work_orders w"
        " JOIN LATERAL (SELECT note FROM work_order_transitions WHERE work_order_id = w.id ORDER BY id DESC LIMIT 1) t"
        " ON true ORDER BY w.id"
    ).fetchall()


def test_nobody_on_duty_goes_to_the_neighbouring_grid(conn: psycopg.Connection) -> None:
    processor(conn)(conn, [start(0, 0, "a-1")])
    assert orders(conn) == [
        ("dispatched", "off-b", None, True,
         "no officer on duty in grid t-a; dispatched to off-b (on duty in neighbouring grid t-b)"),
    ]  # fmt: skip


def test_neighbours_off_duty_too_goes_to_the_supervisor(conn: psycopg.Connection) -> None:
    conn.execute("UPDATE users SET active = false WHERE username = 'off-b'")
    processor(conn)(conn, [start(0, 0, "a-2")])
    assert orders(conn) == [
        ("dispatched", "sup-a", None, True, "no officer on duty in grid t-a; nor in its neighbouring grids (t-b);"
         " dispatched to sup-a, the grid's supervisor"),
    ]  # fmt: skip


def test_nobody_at_all_leaves_it_in_the_district_commander_queue(conn: psycopg.Connection) -> None:
    conn.execute("UPDATE users SET active = false WHERE username IN ('off-b', 'sup-a')")  # a disabled supervisor too
    processor(conn)(conn, [start(0, 0, "a-3"), start(5, 5, "e-1")])
    assert orders(conn) == [
        ("registered", None, "t-d", True, "no officer on duty in grid t-a; nor in its neighbouring grids (t-b);"
         " grid t-a has no (active) supervisor; left registered in the commander queue of district t-d"),
        ("registered", None, "t-d", True, "no officer on duty in grid t-e; it has no neighbouring grid;"
         " grid t-e has no (active) supervisor; left registered in the commander queue of district t-d"),
    ]  # fmt: skip

    # The commander's queue is a filter; dispatching takes an order out of it, taking it back puts it in again.
    city = Scope("admin", "admin")
    queued, count = work_orders.list_work_orders(conn, work_orders.Filters(queue="t-d"), city)
    assert count == 2 and {o["queue"] for o in queued} == {"t-d"}
    commander = Actor("cmd-t", "commander")
    first = min(o["id"] for o in queued)
    dispatched = work_orders.apply_transition(conn, first, "dispatched", commander, assignee="off-c", now=NOW)
    assert dispatched["queue"] is None
    assert work_orders.list_work_orders(conn, work_orders.Filters(queue="t-d"), city)[1] == 1
    assert work_orders.apply_transition(conn, first, "registered", commander, now=NOW)["queue"] == "t-d"


def test_the_fallbacks_follow_routing_yaml(conn: psycopg.Connection, tmp_path: Path) -> None:
    for name in ("severity.yaml", "sla.yaml"):
        shutil.copy(RULES_DIR / name, tmp_path / name)
    (tmp_path / "routing.yaml").write_text("version: 1\nfallbacks: [supervisor]\n")
    processor(conn, tmp_path)(conn, [start(0, 0, "a-4")])
    assert [o[:2] for o in orders(conn)] == [("dispatched", "sup-a")]  # the neighbour's officer is skipped


def test_load_balancing_fewest_open_orders_then_in_turn_across_replicas(conn: psycopg.Connection) -> None:
    first = processor(conn)
    first(conn, [start(8, 0, f"f-{n}") for n in range(4)])
    assert [o[1] for o in orders(conn)] == ["off-f1", "off-f2", "off-f1", "off-f2"]
    # Another replica (its own directory, nothing in memory) continues the same turn from the database.
    second = processor(conn)
    second(conn, [start(8, 0, "f-4")])
    assert orders(conn)[-1][1] == "off-f1"
    # off-f1 resolves two of their three: 1 open against off-f2's 2, so off-f1 gets the next one although the turn
    # is off-f2's; then 2-2, and the turn decides.
    mine = conn.execute("SELECT id FROM work_orders WHERE assignee = 'off-f1' ORDER BY id LIMIT 2").fetchall()
    for (order_id,) in mine:
        for to in ("accepted", "on_site", "resolved"):
            work_orders.apply_transition(conn, order_id, to, Actor("off-f1", "officer"), now=NOW + timedelta(minutes=1))
    second(conn, [start(8, 0, "f-5"), start(8, 0, "f-6")])
    assert [o[1] for o in orders(conn)][-2:] == ["off-f1", "off-f2"]
    assert conn.execute("SELECT last_assignee FROM dispatch_rotation WHERE pool_key = 't-f'").fetchall() == [
        ("off-f2",)
    ]
