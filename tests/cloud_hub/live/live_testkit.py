"""Making real changes for the live channel's tests: incidents and work orders through the real incident processor
and work-order store, exactly as ingest and the API make them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from cityops.contract.messages import Event, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_GRIDS, DEMO_LOCATION

REPO = Path(__file__).resolve().parents[3]
GRID2 = {"lon": DEMO_GRIDS[1].center[0], "lat": DEMO_GRIDS[1].center[1]}  # officer2's grid


def ingest_events(
    conn: psycopg.Connection,
    key: str,
    phases: tuple[str, ...] = ("start",),
    location: Mapping[str, float] = DEMO_LOCATION,
    kind: str = "illegal_parking",
    device_id: str = "edge-demo-01",
    seq_from: int = 1,
) -> None:
    """Events of one situation through the real IncidentProcessor, in the caller's transaction."""
    processor = IncidentProcessor(GridDirectory.load(conn), RulesStore(REPO / "rules" / "hub"))
    processor(
        conn,
        [
            IngestedEvent(
                device_id,
                Event(
                    event_id=new_event_id(),
                    seq=seq_from + n,
                    ts=datetime.now(UTC),
                    kind=kind,
                    phase=phase,
                    incident_key=key,
                    location=dict(location),
                ),
            )
            for n, phase in enumerate(phases)
        ],
    )


def work_order_of(conn: psycopg.Connection, key: str) -> int:
    row = conn.execute(
        "SELECT w.id FROM work_orders w JOIN incidents i ON i.id = w.incident_id WHERE i.incident_key = %s"
        " ORDER BY w.id DESC LIMIT 1",
        (key,),
    ).fetchone()
    assert row is not None, f"no work order for {key}"
    return int(row[0])
