"""Folding a run of events into an incident in one step gives exactly what absorbing them one by one gives."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import pytest

from cityops.contract.messages import Event, new_event_id
from cloud_hub.incidents.merge import Incident, absorb_all, open_incident
from cloud_hub.incidents.severity import more_severe

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def classify(kind: str, subtype: str | None, measurements: Mapping[str, float]) -> str:
    # Deliberately not monotonic in the readings: a fold that skipped a step would miss a colour.
    dwell = measurements.get("dwell_s", 0)
    if 50 <= dwell < 60:
        return "red"
    return "orange" if dwell >= 100 else "yellow" if "depth_cm" in measurements else "blue"


def reference_absorb(current: Incident, event: Event) -> Incident:
    """The per-event rule as specified (newer readings win, older ones only fill gaps), one event at a time."""
    incoming = dict(event.measurements or {})
    newer = event.ts >= current.last_seen
    measurements = {**current.measurements, **incoming} if newer else {**incoming, **current.measurements}
    conf = current.confidence
    if event.confidence is not None:
        conf = event.confidence if conf is None else max(conf, event.confidence)
    return replace(
        current,
        severity=more_severe(current.severity, classify(current.kind, current.subtype, measurements)),
        last_seen=max(current.last_seen, event.ts),
        last_event_id=event.event_id if newer else current.last_event_id,
        event_count=current.event_count + 1,
        confidence=conf,
        measurements=measurements,
        evidence_event_id=current.evidence_event_id or (event.event_id if event.evidence else None),
        lon=current.lon if current.lon is not None else (event.location.lon if event.location else None),
        lat=current.lat if current.lat is not None else (event.location.lat if event.location else None),
        zone_id=current.zone_id or event.zone_id,
        camera_id=current.camera_id or event.camera_id,
    )


def random_event(rng: random.Random, seq: int) -> Event:
    measurements = rng.choice([None, {}, {"dwell_s": float(rng.choice([10, 55, 55, 120]))}, {"depth_cm": 3.0}])
    return Event(
        event_id=new_event_id(),
        seq=seq,
        ts=T0 + timedelta(seconds=rng.randint(0, 40)),  # out of order and repeated timestamps
        kind="illegal_parking",
        phase="update",
        incident_key="cam-1/zone-a/track-7",
        camera_id=rng.choice([None, "cam-1"]),
        zone_id=rng.choice([None, "zone-a", "zone-b"]),
        confidence=rng.choice([None, 0.3, 0.9]),
        location=rng.choice([None, {"lon": 118.7, "lat": 32.0}]),
        measurements=measurements,
        evidence=rng.choice([None, {"sha256": "ab" * 32}]),
    )


@pytest.mark.parametrize("seed", range(40))
def test_fold_equals_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    first = Event(
        event_id=new_event_id(), seq=1, ts=T0 + timedelta(seconds=20), kind="illegal_parking", phase="start",
        incident_key="cam-1/zone-a/track-7", measurements={"dwell_s": 5.0} if seed % 2 else None,
    )  # fmt: skip
    opened = replace(open_incident("edge-1", first, classify), id=3)
    run = [random_event(rng, seq) for seq in range(2, 2 + rng.randint(1, 12))]
    expected = opened
    for ev in run:
        expected = reference_absorb(expected, ev)
    assert absorb_all(opened, run, classify) == expected


def test_a_passing_colour_in_the_middle_of_a_run_is_kept() -> None:
    opened = replace(
        open_incident("edge-1", Event(
            event_id=new_event_id(), seq=1, ts=T0, kind="illegal_parking", phase="start", incident_key="k",
        ), classify), id=1,
    )  # fmt: skip
    run = [
        Event(event_id=new_event_id(), seq=s, ts=T0 + timedelta(seconds=s), kind="illegal_parking", phase="update",
              incident_key="k", measurements={"dwell_s": d})
        for s, d in ((2, 20.0), (3, 55.0), (4, 70.0))
    ]  # fmt: skip
    folded = absorb_all(opened, run, classify)
    assert (folded.severity, folded.event_count, folded.last_event_id) == ("red", 4, run[-1].event_id)
    assert folded.measurements == {"dwell_s": 70.0}
    assert absorb_all(opened, [], classify) == opened


def test_every_other_field_of_the_incident_is_carried_over() -> None:
    # absorb_all builds the Incident field by field: a field added to Incident later must not fall back to its default.
    absorbed = {"severity", "last_seen", "last_event_id", "event_count", "confidence", "measurements",
                "evidence_event_id", "lon", "lat", "zone_id", "camera_id"}  # fmt: skip
    opened = open_incident("edge-1", random_event(random.Random(1), 1), classify)
    incident = replace(
        opened, id=9, grid_id="g-1", district="d-1", ended_at=T0 + timedelta(seconds=99), subtype="s", status="ended",
        bbox=(0.1, 0.2, 0.3, 0.4), source_count=2,
    )  # fmt: skip
    carried = [f for f in fields(Incident) if f.name not in absorbed]
    assert all(getattr(incident, f.name) not in (None, f.default) for f in carried)  # each one would show a loss
    folded = absorb_all(incident, [random_event(random.Random(2), 2)], classify)
    assert {f.name: getattr(folded, f.name) for f in carried} == {f.name: getattr(incident, f.name) for f in carried}
