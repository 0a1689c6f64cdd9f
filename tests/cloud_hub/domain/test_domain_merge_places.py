"""Merging by place across devices and incident keys (rules/hub/merge.yaml): the pure choice, the rule file, and
the IncidentProcessor against a real PostgreSQL (camera + water gauge, two cameras, an edge restart)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cityops.contract.messages import Event, new_event_id
from cloud_hub.core.types import IngestedEvent
from cloud_hub.devices.registry import provision_device
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.incidents import nearby
from cloud_hub.incidents.merge import Incident
from cloud_hub.incidents.processor import IncidentProcessor
from cloud_hub.rules.loader import RulesError, RulesStore, load_hub_rules
from cloud_hub.rules.models import MergeRule
from cloud_hub.rules.watch import RulesWatcher
from cloud_hub.seed.demo import DEMO_CAMERA_ID, DEMO_LOCATION, seed_demo

RULES_DIR = Path(__file__).resolve().parents[3] / "rules" / "hub"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
LON, LAT = DEMO_LOCATION["lon"], DEMO_LOCATION["lat"]
DEG_PER_M = 1 / 111_320  # of latitude
RULE = MergeRule(kind="waterlogging", distance_m=150, window_s=600)
BOX = (0.30, 0.30, 0.40, 0.36)


def event(phase: str, key: str, at_s: float = 0, **kw: Any) -> Event:
    return Event(
        event_id=new_event_id(), seq=kw.pop("seq", 1), ts=NOW + timedelta(seconds=at_s),
        kind=kw.pop("kind", "illegal_parking"), phase=phase, incident_key=key, **kw,
    )  # fmt: skip


def incident(**kw: Any) -> Incident:
    fields: dict[str, Any] = dict(
        device_id="edge-a", incident_key="cam-a/z/track-1", kind="illegal_parking", severity="yellow", status="open",
        first_event_id=new_event_id(), last_event_id=new_event_id(), first_seen=NOW, last_seen=NOW, id=7,
        camera_id="cam-a", zone_id="z", lon=LON, lat=LAT, bbox=BOX,
    )  # fmt: skip
    fields.update(kw)
    return Incident(**fields)


def candidate(i: Incident) -> nearby.Candidate:
    return nearby.Candidate(i, (nearby.own_source(i),))


# ---- pure --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metres_north", "metres_east"), [(0, 0), (149, 0), (0, 149), (100, 100), (-149, 0), (0, -149), (-105, 105)]
)
@pytest.mark.parametrize(("lon", "lat"), [(LON, LAT), (118.0, 0.0001), (-73.98, 40.75), (10.0, 69.6), (0.0, -33.9)])
def test_places_within_the_distance_always_share_a_lock_cell(
    lon: float, lat: float, metres_north: float, metres_east: float
) -> None:
    other_lat = lat + metres_north * DEG_PER_M
    other_lon = lon + metres_east * DEG_PER_M / math.cos(math.radians(lat))
    assert nearby.distance_m(lon, lat, other_lon, other_lat) <= 150.5
    mine = set(nearby.place_cells("waterlogging", lon, lat, 150))
    theirs = set(nearby.place_cells("waterlogging", other_lon, other_lat, 150))
    assert mine & theirs
    west, south, east, north = nearby.search_box(lon, lat, 150)
    assert west <= other_lon <= east and south <= other_lat <= north


def test_distance_and_overlap() -> None:
    assert nearby.distance_m(LON, LAT, LON, LAT + 100 * DEG_PER_M) == pytest.approx(100, rel=0.01)
    assert nearby.iou(BOX, BOX) == 1.0
    assert nearby.iou((0, 0, 1, 1), (0.5, 0, 1.5, 1)) == pytest.approx(1 / 3)
    assert nearby.iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


SHIFTED = (0.31, 0.30, 0.41, 0.36)  # the same car, boxed a little differently after the restart
ELSEWHERE = (0.60, 0.30, 0.70, 0.36)  # the next car along the kerb
PARKING = MergeRule(kind="illegal_parking", distance_m=30, window_s=900)


@pytest.mark.parametrize(
    ("what", "device", "ev", "cands", "expected"),
    [
        # (what, event's device, event, candidates, (index, supersedes, continuation) or None)
        ("another camera, same place", "edge-b", event("start", "cam-b/z/track-3", 60, camera_id="cam-b"),
         [candidate(incident())], (0, (), False)),
        ("another camera, 25 m away", "edge-b", event("start", "k", 60, camera_id="cam-b",
         location={"lon": LON, "lat": LAT + 25 * DEG_PER_M}), [candidate(incident())], (0, (), False)),
        ("another camera, 40 m away", "edge-b", event("start", "k", 60, camera_id="cam-b",
         location={"lon": LON, "lat": LAT + 40 * DEG_PER_M}), [candidate(incident())], None),
        ("another camera, after the window", "edge-b", event("start", "k", 901, camera_id="cam-b"),
         [candidate(incident())], None),
        ("another camera, before the window", "edge-b", event("start", "k", -901, camera_id="cam-b"),
         [candidate(incident())], None),
        ("another kind", "edge-b", event("start", "k", 0, camera_id="cam-b", kind="road_occupation"),
         [candidate(incident())], None),
        ("an ended incident", "edge-b", event("start", "k", 0, camera_id="cam-b"),
         [candidate(incident(status="ended"))], None),
        ("same camera, same box: a restart", "edge-a", event("start", "cam-a/z/track-1001", 60, camera_id="cam-a",
         bbox=list(SHIFTED)), [candidate(incident())], (0, (("edge-a", "cam-a/z/track-1"),), True)),
        ("same camera, same box, a day later", "edge-a", event("start", "cam-a/z/track-1001", 86400,
         camera_id="cam-a", bbox=list(BOX)), [candidate(incident())], (0, (("edge-a", "cam-a/z/track-1"),), True)),
        ("same camera, another box: another car", "edge-a", event("start", "cam-a/z/track-2", 0, camera_id="cam-a",
         bbox=list(ELSEWHERE)), [candidate(incident())], None),
        ("same camera, no box: cannot tell", "edge-a", event("start", "cam-a/z/track-2", 0, camera_id="cam-a"),
         [candidate(incident())], None),
        ("the car's own incident before its neighbour's", "edge-a", event("start", "cam-a/z/track-9", 0,
         camera_id="cam-a", bbox=list(ELSEWHERE)),
         [candidate(incident()), candidate(incident(id=8, incident_key="cam-a/z/track-2", bbox=ELSEWHERE))],
         (1, (("edge-a", "cam-a/z/track-2"),), True)),
        ("the nearest of two", "edge-b", event("start", "k", 0, camera_id="cam-b"),
         [candidate(incident(lat=LAT + 20 * DEG_PER_M)), candidate(incident(id=8, device_id="edge-c"))],
         (1, (), False)),
    ],
)  # fmt: skip
def test_choose(what: str, device: str, ev: Event, cands: list[nearby.Candidate], expected: tuple | None) -> None:
    found = nearby.choose(PARKING, device, ev, ev.location.lon if ev.location else LON,
                          ev.location.lat if ev.location else LAT, cands)  # fmt: skip
    assert (None if found is None else (found.index, found.supersedes, found.continuation)) == expected, what


def test_a_camera_already_in_the_incident_cannot_add_a_second_object() -> None:
    # cam-b already feeds the incident (another car seen by two cameras): its next car is not the same one.
    joined = nearby.Candidate(
        incident(source_count=2),
        (nearby.own_source(incident()), nearby.Source("edge-b", "cam-b/z/track-3", "cam-b", "z", None)),
    )
    assert nearby.choose(PARKING, "edge-b", event("start", "cam-b/z/track-4", 0, camera_id="cam-b"), LON, LAT,
                         [joined]) is None  # fmt: skip


@pytest.mark.parametrize(
    ("statuses", "ending", "after", "incident_ends"),
    [
        (("live", "live"), 0, ("ended", "live"), False),  # the camera lost sight; the gauge still measures
        (("ended", "live"), 1, ("ended", "ended"), True),
        (("superseded", "live"), 1, ("superseded", "ended"), True),  # the restarted camera's car left
        (("superseded", "live"), 0, ("superseded", "live"), False),  # the old key's late end changes nothing
    ],
)
def test_a_merged_incident_ends_with_its_last_live_source(
    statuses: tuple[str, str], ending: int, after: tuple[str, str], incident_ends: bool
) -> None:
    sources = [nearby.Source("d", f"k{n}", None, None, None, status) for n, status in enumerate(statuses)]  # type: ignore[arg-type]
    updated, ends = nearby.end_source(sources, ("d", f"k{ending}"))
    assert (tuple(s.status for s in updated), ends) == (after, incident_ends)


# ---- the rule file ---------------------------------------------------------------------------------------------


def test_shipped_merge_rules() -> None:
    rules = load_hub_rules(RULES_DIR).merge
    assert rules.for_kind("waterlogging") is not None and rules.for_kind("kitchen_violation") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - {kind: waterlogging, distance_m: 0, window_s: 60}\n", "rules.0.distance_m"),
        ("rules:\n  - {kind: waterlogging, distance_m: 50, window_s: 60, radius: 3}\n", "rules.0.radius"),
        ("rules:\n  - {kind: w, distance_m: 5, window_s: 6}\n  - {kind: w, distance_m: 9, window_s: 9}\n", "kind w"),
        ("rules:\n  - {kind: w, distance_m: 5}\n", "rules.0.window_s"),
    ],
)
def test_bad_merge_rules_are_refused_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "merge.yaml").write_text(text)
    with pytest.raises(RulesError, match=r"merge\.yaml") as caught:
        load_hub_rules(tmp_path)
    assert message in str(caught.value)


def test_merge_rules_are_hot_reloaded_and_a_bad_edit_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("rules:\n  - {kind: waterlogging, distance_m: 100, window_s: 60}\n")  # sizes differ: seen
    store = RulesStore(tmp_path)
    watcher = RulesWatcher([(tmp_path, store.reload)])
    path.write_text("rules:\n  - {kind: waterlogging, distance_m: 2500, window_s: 60}\n")
    assert watcher.check_once() == 1
    assert store.current.merge.rules[0].distance_m == 2500
    path.write_text("rules:\n  - {kind: waterlogging, distance_m: -1, window_s: 60}\n")
    assert watcher.check_once() == 0 and watcher.refused == 1
    assert store.current.merge.rules[0].distance_m == 2500


# ---- against the database --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        seed_demo(conn)
        # A water-level gauge 80 m up the road from the demo camera.
        provision_device(conn, _NoBroker(), "wl-gauge-1", "sensor", lon=LON, lat=LAT + 80 * DEG_PER_M)
    return database_url


class _NoBroker:
    def provision_device(self, device_id: str, password: str) -> None:
        """Broker credentials are not part of this test."""


@pytest.fixture
def conn(seeded: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded) as connection:
        yield connection
        connection.rollback()


@pytest.fixture
def processor(conn: psycopg.Connection) -> IncidentProcessor:
    return IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES_DIR), clock=lambda: NOW)


def camera(phase: str, key: str, at_s: float, **kw: Any) -> IngestedEvent:
    kw.setdefault("camera_id", DEMO_CAMERA_ID)
    kw.setdefault("zone_id", "zone-a")
    return IngestedEvent(kw.pop("device", "edge-demo-01"), event(phase, key, at_s, **kw))


def gauge(phase: str, at_s: float, **kw: Any) -> IngestedEvent:
    return IngestedEvent(
        "wl-gauge-1",
        event(phase, "telemetry/wl-gauge-1/s1/water_level_cm/water-level-high", at_s, kind="waterlogging",
              subtype="water_level_high", measurements=kw.pop("measurements", {"water_level_cm": 30.0}), **kw),
    )  # fmt: skip


def rows(conn: psycopg.Connection, query: str, *params: Any) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def test_a_flooded_underpass_seen_by_a_camera_and_a_gauge_is_one_incident_until_both_end(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    processor(conn, [camera("start", "cam-demo-01/gauge/water", 0, kind="waterlogging", subtype="ponding",
                            measurements={"water_depth_cm": 12.0})])  # fmt: skip
    processor(conn, [gauge("start", 90)])
    assert rows(conn, "SELECT status, source_count, event_count FROM incidents") == [("open", 2, 2)]
    assert rows(conn, "SELECT count(*), min(status) FROM work_orders") == [(1, "dispatched")]
    assert rows(conn, "SELECT device_id, status FROM incident_sources ORDER BY joined_at") == [
        ("edge-demo-01", "live"), ("wl-gauge-1", "live"),
    ]  # fmt: skip
    processor(conn, [camera("end", "cam-demo-01/gauge/water", 300, kind="waterlogging")])  # lost sight at dusk
    processor(conn, [gauge("update", 400, measurements={"water_level_cm": 28.0})])
    assert rows(conn, "SELECT status, event_count FROM incidents") == [("open", 4)]
    processor(conn, [gauge("end", 900)])
    assert rows(conn, "SELECT status, ended_at FROM incidents") == [("ended", NOW + timedelta(seconds=900))]
    assert rows(conn, "SELECT count(*) FROM work_orders") == [(1,)]


def test_the_same_car_seen_by_two_cameras_in_one_batch_is_one_incident(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    processor(conn, [
        camera("start", "cam-demo-01/zone-a/track-5", 0, bbox=list(BOX)),
        camera("start", "cam-x/zone-1/track-77", 3, device="edge-x", camera_id="cam-x", bbox=[0.5, 0.5, 0.6, 0.6],
               location={"lon": LON + 0.0001, "lat": LAT}),
    ])  # fmt: skip
    assert rows(conn, "SELECT count(*), sum(source_count) FROM incidents") == [(1, 2)]
    assert rows(conn, "SELECT count(*) FROM work_orders") == [(1,)]


def test_two_cars_of_one_camera_stay_two_incidents(conn: psycopg.Connection, processor: IncidentProcessor) -> None:
    processor(conn, [camera("start", "cam-demo-01/zone-a/track-6", 0, bbox=list(BOX))])
    processor(conn, [camera("start", "cam-demo-01/zone-a/track-7", 5, bbox=list(ELSEWHERE))])
    assert rows(conn, "SELECT count(*), max(source_count) FROM incidents") == [(2, 1)]
    assert rows(conn, "SELECT count(*) FROM work_orders") == [(2,)]


def test_an_edge_restart_continues_the_open_incident_of_the_same_parked_car(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    # Before the restart: track 3 parks and is reported; the agent is then stopped without an end.
    processor(conn, [camera("start", "cam-demo-01/zone-a/track-3", 0, bbox=list(BOX))])
    # After it (track ids never repeat across restarts): the same car, same place in the picture, a new key.
    processor(conn, [camera("start", "cam-demo-01/zone-a/track-1003", 600, bbox=list(SHIFTED), seq=2)])
    assert rows(conn, "SELECT count(*) FROM incidents") == [(1,)]
    assert rows(conn, "SELECT count(*) FROM work_orders") == [(1,)]
    assert rows(conn, "SELECT incident_key, status FROM incident_sources ORDER BY incident_key") == [
        ("cam-demo-01/zone-a/track-1003", "live"), ("cam-demo-01/zone-a/track-3", "superseded"),
    ]  # fmt: skip
    # The car leaves: the new key's end ends the incident (the old key is superseded, never to end).
    processor(conn, [camera("end", "cam-demo-01/zone-a/track-1003", 900, seq=3)])
    assert rows(conn, "SELECT status FROM incidents") == [("ended",)]
    # A key merged into an incident keeps feeding it, and is locked as that incident (one lock for its writers).
    processor(conn, [camera("update", "cam-demo-01/zone-a/track-1003", 850, seq=4)])  # late, before the end
    assert rows(conn, "SELECT status, event_count FROM incidents") == [("ended", 4)]


def test_a_gauge_far_from_the_camera_opens_its_own_incident(
    conn: psycopg.Connection, processor: IncidentProcessor
) -> None:
    processor(conn, [camera("start", "cam-demo-01/gauge/water", 0, kind="waterlogging",
                            location={"lon": LON, "lat": LAT - 200 * DEG_PER_M})])  # fmt: skip
    processor(conn, [gauge("start", 60)])
    assert rows(conn, "SELECT count(*), max(source_count) FROM incidents") == [(2, 1)]
