"""A citizen's report beside the devices' own incidents: the ingest path (merging by place, routing) must take a
detection at the place of an open report, an incident without device or events, without failing the batch, and
leave the report's case as it was."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg

from cityops.contract.messages import Event, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.reports import store as report_store
from cloud_hub.rules.loader import RulesStore
from cloud_hub.seed.demo import DEMO_CAMERA_ID, DEMO_DEVICE_ID, DEMO_GRIDS, DEMO_LOCATION, seed_demo

RULES = Path(__file__).resolve().parents[3] / "rules" / "hub"


def test_a_detection_where_a_citizen_reported_the_same_kind_is_ingested(database_url: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
        report = report_store.insert_incident(
            conn,
            report_store.ReportIncident(
                "hotline-12345/GL-INGEST-1", "illegal_parking", None, "yellow", DEMO_LOCATION["lon"],
                DEMO_LOCATION["lat"], DEMO_GRIDS[0].grid_id, "nj-gulou", now,
            ),
        )  # fmt: skip
        conn.commit()
        processor = IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES), clock=lambda: now)
        event = Event(
            event_id=new_event_id(), seq=1, ts=now, kind="illegal_parking", phase="start",
            incident_key="cam-demo-01/zone-a/track-7", camera_id=DEMO_CAMERA_ID, zone_id="zone-a",
        )  # fmt: skip
        processor(conn, [IngestedEvent(device_id=DEMO_DEVICE_ID, event=event)])
        conn.commit()
        fed = conn.execute(
            "SELECT count(*) FROM incidents WHERE status = 'open' AND kind = 'illegal_parking'"
            " AND (device_id = %s OR id IN (SELECT incident_id FROM incident_sources WHERE device_id = %s))",
            (DEMO_DEVICE_ID, DEMO_DEVICE_ID),
        ).fetchone()[0]
        assert fed == 1, "the detection became (or joined) an open incident"
        kept = conn.execute(
            "SELECT i.origin, i.device_id, i.status, count(w.id) FROM incidents i"
            " LEFT JOIN work_orders w ON w.incident_id = i.id WHERE i.id = %s GROUP BY i.id",
            (report,),
        ).fetchone()
        assert kept == ("report", None, "open", 0)
