"""Through the real incident processor: a car parked longer turns its incident from yellow to orange, and the work
order's deadline tightens to orange's SLA from that moment (it was left at the yellow one before)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from cityops.contract.messages import Event, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_LOCATION, seed_demo

RULES_DIR = Path(__file__).resolve().parents[3] / "rules" / "hub"
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai: office hours


def parked(phase: str, seq: int, at: datetime, dwell_s: float) -> IngestedEvent:
    event = Event(
        event_id=new_event_id(),
        seq=seq,
        ts=at,
        kind="illegal_parking",
        phase=phase,
        incident_key="cam-demo-01/zone-a/track-77",
        camera_id="cam-demo-01",
        location=DEMO_LOCATION,
        measurements={"dwell_s": dwell_s},
    )
    return IngestedEvent("edge-demo-01", event)


def test_a_rising_severity_tightens_the_deadline(database_url: str) -> None:
    clock = [START]
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
        processor = IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES_DIR), clock=lambda: clock[0])
        processor(conn, [parked("start", 1, START, 300)])
        severity, due = conn.execute("SELECT severity, due_at FROM work_orders").fetchone()
        assert (severity, due) == ("yellow", START + timedelta(minutes=60))  # illegal_parking yellow: 60 office min

        clock[0] = START + timedelta(minutes=20)
        processor(conn, [parked("update", 2, clock[0], 1800)])
        severity, due = conn.execute("SELECT severity, due_at FROM work_orders").fetchone()
        assert (severity, due) == ("orange", clock[0] + timedelta(minutes=30))  # orange: 30 min from now
        conn.rollback()
