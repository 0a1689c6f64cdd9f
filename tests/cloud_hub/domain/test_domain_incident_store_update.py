"""incidents.store.update_incidents: one set-based statement per batch writes every merged incident exactly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cityops.contract.messages import new_event_id
from cloud_hub.incidents import store
from cloud_hub.incidents.merge import Incident

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def incident(key: str) -> Incident:
    event_id = new_event_id()
    return Incident(
        device_id="upd-dev", incident_key=key, kind="illegal_parking", severity="blue", status="open",
        first_event_id=event_id, last_event_id=event_id, first_seen=T0, last_seen=T0,
    )  # fmt: skip


def test_update_many_writes_each_row_with_nulls_and_integral_floats(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        a, b = incident(f"k-{new_event_id()}"), incident(f"k-{new_event_id()}")
        id_a, id_b = store.insert_incidents(conn, [a, b])
        last = new_event_id()
        changed_a = replace(
            a, id=id_a, severity="red", status="ended", lon=120, lat=31, last_event_id=last, evidence_event_id=last,
            last_seen=T0 + timedelta(minutes=5), ended_at=T0 + timedelta(minutes=5), event_count=7, confidence=1,
            measurements={"dwell_s": 300.5}, camera_id="cam-9", zone_id="z-1",
        )  # fmt: skip
        changed_b = replace(b, id=id_b, event_count=2)  # every nullable column still NULL
        store.update_incidents(conn, [changed_a, changed_b])
        got = store.current_incidents(conn, [(a.device_id, a.incident_key), (b.device_id, b.incident_key)])

    assert got[(a.device_id, a.incident_key)] == changed_a
    assert got[(b.device_id, b.incident_key)] == changed_b


def test_update_many_refuses_unsaved_or_repeated_incidents(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        saved = replace(incident("k-x"), id=1)
        with pytest.raises(ValueError, match="own stored id"):
            store.update_incidents(conn, [incident("k-y")])
        with pytest.raises(ValueError, match="own stored id"):
            store.update_incidents(conn, [saved, saved])
