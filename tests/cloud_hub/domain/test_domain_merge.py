"""Pure incident merge: start opens, update refreshes, end ends, late events join the ended incident."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cityops.contract.messages import Event, new_event_id
from cloud_hub.incidents.merge import Incident, merge

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def classify(kind: str, subtype: str | None, measurements: Mapping[str, float]) -> str:
    return "orange" if measurements.get("dwell_s", 0) >= 100 else "yellow"


def event(phase: str, at_s: float, seq: int = 1, **kw) -> Event:
    return Event(
        event_id=new_event_id(),
        seq=seq,
        ts=T0 + timedelta(seconds=at_s),
        kind="illegal_parking",
        subtype="no_parking_zone",
        phase=phase,
        incident_key="cam-1/zone-a/track-7",
        camera_id="cam-1",
        zone_id="zone-a",
        **kw,
    )


def test_start_opens_an_incident() -> None:
    ev = event("start", 0, measurements={"dwell_s": 12.0}, location={"lon": 118.79, "lat": 32.06}, confidence=0.8)
    result = merge(None, "edge-1", ev, classify)
    assert result.action == "open"
    inc = result.incident
    assert (inc.status, inc.severity, inc.event_count, inc.first_event_id) == ("open", "yellow", 1, ev.event_id)
    assert (inc.lon, inc.lat, inc.id) == (118.79, 32.06, None)


def test_update_refreshes_and_raises_severity_but_never_lowers_it() -> None:
    opened = merge(None, "edge-1", event("start", 0, measurements={"dwell_s": 12.0}), classify).incident
    opened = replace(opened, id=7)
    updated = merge(opened, "edge-1", event("update", 120, seq=2, measurements={"dwell_s": 132.0}), classify)
    assert updated.action == "update"
    assert updated.incident.id == 7
    assert updated.incident.severity == "orange"
    assert updated.incident.measurements == {"dwell_s": 132.0}
    assert updated.incident.last_seen == T0 + timedelta(seconds=120)
    assert updated.incident.event_count == 2
    # An out-of-order older reading fills nothing it already has and does not move last_seen back.
    older = merge(updated.incident, "edge-1", event("update", 60, seq=3, measurements={"dwell_s": 72.0}), classify)
    assert older.incident.measurements == {"dwell_s": 132.0}
    assert older.incident.last_seen == T0 + timedelta(seconds=120)
    assert older.incident.severity == "orange"


def test_end_ends_the_open_incident() -> None:
    opened = replace(merge(None, "edge-1", event("start", 0), classify).incident, id=3)
    result = merge(opened, "edge-1", event("end", 30, seq=2), classify)
    assert result.action == "update" and result.ended_now
    assert result.incident.status == "ended"
    assert result.incident.ended_at == T0 + timedelta(seconds=30)


def test_late_event_joins_the_ended_incident_and_a_new_start_opens_another() -> None:
    ended = replace(
        merge(None, "edge-1", event("start", 0), classify).incident,
        id=3,
        status="ended",
        ended_at=T0 + timedelta(seconds=30),
        last_seen=T0 + timedelta(seconds=30),
    )
    late = merge(ended, "edge-1", event("update", 20, seq=2), classify)
    assert late.action == "update" and late.incident.status == "ended" and not late.ended_now
    assert late.incident.event_count == 2
    again = merge(ended, "edge-1", event("start", 600, seq=5), classify)
    assert again.action == "open" and again.incident.id is None and again.incident.status == "open"


def test_update_without_start_opens_and_end_alone_records_an_ended_incident() -> None:
    assert merge(None, "edge-1", event("update", 0), classify).incident.status == "open"
    only_end = merge(None, "edge-1", event("end", 0), classify).incident
    assert only_end.status == "ended" and only_end.ended_at == T0


def test_first_evidence_is_kept() -> None:
    evidence = {"sha256": "a" * 64}
    first = merge(None, "edge-1", event("start", 0), classify).incident
    assert first.evidence_event_id is None
    ev2 = event("update", 5, seq=2, evidence=evidence)
    second = merge(first, "edge-1", ev2, classify).incident
    assert second.evidence_event_id == ev2.event_id
    third = merge(second, "edge-1", event("update", 9, seq=3, evidence=evidence), classify).incident
    assert third.evidence_event_id == ev2.event_id


def test_mismatched_situation_is_a_programming_error() -> None:
    other: Incident = replace(merge(None, "edge-1", event("start", 0), classify).incident, incident_key="x")
    with pytest.raises(ValueError, match="different situations"):
        merge(other, "edge-1", event("update", 1), classify)
