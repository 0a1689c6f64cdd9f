"""A situation's events in one ingest batch (runs of updates folded at once) give exactly the incidents and work
orders that the same events give one batch at a time."""

from __future__ import annotations

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
from cloud_hub.seed.demo import DEMO_CAMERA_ID, seed_demo

RULES_DIR = Path(__file__).resolve().parents[3] / "rules" / "hub"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai: an officer is on duty
KEY = "cam-demo-01/zone-a/track-fold"


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
    return database_url


def ingested(phase: str, at_s: float, seq: int, **kw: Any) -> IngestedEvent:
    event = Event(
        event_id=new_event_id(), seq=seq, ts=NOW + timedelta(seconds=at_s), kind="illegal_parking",
        subtype="no_parking_zone", phase=phase, incident_key=KEY, camera_id=DEMO_CAMERA_ID, **kw,
    )  # fmt: skip
    return IngestedEvent(device_id="edge-demo-01", event=event)


# Start, a run of updates (out of order, severity rising in the middle, a location and evidence arriving late),
# the end, a late update that joins the ended incident, then the same key again: a second incident with its own run.
EVENTS = [
    ingested("start", 0, 1, measurements={"dwell_s": 10.0}, confidence=0.5),
    ingested("update", 100, 2, measurements={"dwell_s": 100.0}),
    ingested("update", 50, 3, measurements={"dwell_s": 50.0, "width_m": 2.0}, confidence=0.9),
    ingested("update", 1900, 4, measurements={"dwell_s": 1900.0}, zone_id="zone-a"),
    ingested("update", 150, 5, location={"lon": 118.78, "lat": 32.05}, evidence={"sha256": "cd" * 32}),
    ingested("end", 2000, 6),
    ingested("update", 1950, 7, measurements={"dwell_s": 1950.0}),
    ingested("update", 4000, 8, measurements={"dwell_s": 5.0}),
    ingested("update", 4100, 9, measurements={"dwell_s": 100.0}, confidence=0.7),
    ingested("update", 4050, 10, measurements={"dwell_s": 2500.0}),
]

_INCIDENT = (
    "SELECT kind, subtype, severity, status, camera_id, zone_id, lon, lat, grid_id, district, first_event_id,"
    " last_event_id, evidence_event_id, first_seen, last_seen, ended_at, event_count, confidence, measurements"
    " FROM incidents WHERE incident_key = %s ORDER BY first_seen"
)
_ORDERS = (
    "SELECT w.kind, w.severity, w.status, w.assignee, w.grid_id FROM work_orders w JOIN incidents i"
    " ON i.id = w.incident_id WHERE i.incident_key = %s ORDER BY i.first_seen"
)


def outcome(database_url: str, batches: list[list[IngestedEvent]]) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(database_url) as conn:
        processor = IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES_DIR), clock=lambda: NOW)
        for batch in batches:
            processor(conn, batch)
        result = conn.execute(_INCIDENT, (KEY,)).fetchall(), conn.execute(_ORDERS, (KEY,)).fetchall()
        conn.rollback()
    return result


# The first situation opens and ends inside the whole batch, so the hub learns of it only once it is over: its work
# order waits for review (registered, nobody sent). Fed in smaller batches it was dispatched at its start. The
# incidents and the second situation's order are the same either way.
ENDED_BEFORE_DISPATCH = ("illegal_parking", "orange", "registered", None, "nj-gulou-01")
DISPATCHED = ("illegal_parking", "orange", "dispatched", "officer1", "nj-gulou-01")


def test_one_batch_equals_one_event_at_a_time(seeded: str) -> None:
    incidents, orders = outcome(seeded, [EVENTS])
    # A batch is walked in time order (readings of an out-of-order event only fill gaps, so order matters).
    in_time_order = sorted(EVENTS, key=lambda e: (e.event.ts, e.event.seq))
    one_by_one = outcome(seeded, [[e] for e in in_time_order])
    assert incidents == one_by_one[0]
    assert [(i[3], i[16]) for i in incidents] == [("ended", 7), ("open", 3)]
    assert orders == [ENDED_BEFORE_DISPATCH, DISPATCHED]
    assert one_by_one[1] == [DISPATCHED, DISPATCHED]


def test_a_run_split_across_batches_equals_one_batch(seeded: str) -> None:
    in_time_order = sorted(EVENTS, key=lambda e: (e.event.ts, e.event.seq))
    split = [in_time_order[:3], in_time_order[3:8], in_time_order[8:]]
    (incidents, orders), (whole_incidents, whole_orders) = outcome(seeded, split), outcome(seeded, [EVENTS])
    assert incidents == whole_incidents
    assert (orders, whole_orders) == ([DISPATCHED, DISPATCHED], [ENDED_BEFORE_DISPATCH, DISPATCHED])
