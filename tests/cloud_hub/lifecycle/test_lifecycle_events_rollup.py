"""Events per hour: the view answers correct counts with grid and district; refresh is idempotent, incremental
(only hours marked by the ingest hook, plus the lookback) and picks up late events through the markers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from lifecycle_rows import insert_events

from cloud_hub.dispatch.routing import Grid, GridIndex
from cloud_hub.store.capabilities import detect_capabilities
from cloud_hub.store.places import Source, place, refresh_event_places
from cloud_hub.store.rollups import hour_of, hour_ranges, mark_dirty_hours, refresh_events_hourly

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[118.0, 32.0], [119.0, 32.0], [119.0, 33.0], [118.0, 33.0], [118.0, 32.0]]],
}


def counts(conn: psycopg.Connection) -> dict[tuple, int]:
    rows = conn.execute(
        "SELECT bucket, kind, subtype, device_id, camera_id, grid_id, district, events FROM rollup_events_hourly"
    ).fetchall()
    return {tuple(r[:7]): r[7] for r in rows}


@pytest.fixture(scope="module")
def conn(database_url: str):
    with psycopg.connect(database_url, autocommit=True) as c:
        if detect_capabilities(c).continuous_aggregates:
            pytest.skip("this server keeps the events rollup as a continuous aggregate (see the pglite test)")
        c.execute("INSERT INTO districts (district_id, name) VALUES ('d-1', 'Gulou')")
        c.execute(
            "INSERT INTO grids (grid_id, district_id, name, polygon) VALUES ('g-1', 'd-1', 'Grid 1', %s)",
            (psycopg.types.json.Jsonb(SQUARE),),
        )
        c.execute(
            "INSERT INTO cameras (camera_id, device_id, lon, lat, district)"
            " VALUES ('cam-in', 'edge-1', 118.5, 32.5, 'x'), ('cam-out', 'edge-1', 10, 10, 'd-far')"
        )
        yield c


def test_hour_helpers() -> None:
    assert hour_of(datetime(2026, 3, 10, 20, 59, tzinfo=UTC) + timedelta(hours=-8)) == datetime(
        2026, 3, 10, 12, tzinfo=UTC
    )
    h = datetime(2026, 1, 1, tzinfo=UTC)
    hours = [h, h + timedelta(hours=1), h + timedelta(hours=5), h + timedelta(hours=1)]
    assert hour_ranges(hours) == [(h, h + timedelta(hours=2)), (h + timedelta(hours=5), h + timedelta(hours=6))]
    with pytest.raises(ValueError, match="no time zone"):
        hour_of(datetime(2026, 1, 1))


def test_place_rule() -> None:
    index = GridIndex([Grid.from_geojson("g-1", SQUARE, district_id="d-1")])
    assert place(Source("e", "c", 118.5, 32.5, "other"), index) == ("g-1", "d-1")
    assert place(Source("e", "c", 10, 10, "other"), index) == (None, "other")
    assert place(Source("e", "", device_lon=118.2, device_lat=32.2), index) == ("g-1", "d-1")
    assert place(Source("e", ""), index) == (None, None)


def test_counts_places_idempotence_and_late_events(conn: psycopg.Connection) -> None:
    h = hour_of(NOW)
    insert_events(conn, [
        ("edge-1", h + timedelta(minutes=1), "illegal_parking", None, "cam-in"),
        ("edge-1", h + timedelta(minutes=2), "illegal_parking", None, "cam-in"),
        ("edge-1", h + timedelta(minutes=3), "hygiene", "no_mask", "cam-out"),
        ("edge-1", h - timedelta(minutes=10), "illegal_parking", None, "cam-in"),
        ("sensor-9", h - timedelta(minutes=50), "waterlogging", None, None),
    ])  # fmt: skip
    first = refresh_events_hourly(conn, NOW, lookback=timedelta(hours=2))
    assert first.rows == 4
    refresh_event_places(conn, NOW)
    prev = h - timedelta(hours=1)
    expected = {
        (h, "illegal_parking", None, "edge-1", "cam-in", "g-1", "d-1"): 2,
        (h, "hygiene", "no_mask", "edge-1", "cam-out", None, "d-far"): 1,
        (prev, "illegal_parking", None, "edge-1", "cam-in", "g-1", "d-1"): 1,
        (prev, "waterlogging", None, "sensor-9", None, None, None): 1,
    }
    assert counts(conn) == expected

    # Idempotent: a second refresh with nothing new writes the same rows.
    refresh_events_hourly(conn, NOW, lookback=timedelta(hours=2))
    assert counts(conn) == expected

    # A late event three days back is not in the lookback: invisible until the ingest hook marks its hour.
    old = h - timedelta(days=3)
    insert_events(conn, [("edge-1", old + timedelta(minutes=5), "illegal_parking", None, "cam-in")])
    refresh_events_hourly(conn, NOW, lookback=timedelta(hours=2))
    assert (old, "illegal_parking", None, "edge-1", "cam-in", "g-1", "d-1") not in counts(conn)
    with conn.transaction():
        assert mark_dirty_hours(conn, [old + timedelta(minutes=5), old + timedelta(minutes=40)]) == 1
    report = refresh_events_hourly(conn, NOW, lookback=timedelta(0))
    assert report.buckets == 2 and report.first == old  # the marked hour and the current one, nothing else
    assert counts(conn) == expected | {(old, "illegal_parking", None, "edge-1", "cam-in", "g-1", "d-1"): 1}
    assert conn.execute("SELECT count(*) FROM rollup_dirty_hours").fetchone()[0] == 0

    # Deleted events (retention) vanish from their hour on the next refresh of it.
    conn.execute("DELETE FROM events WHERE kind = 'hygiene'")
    refresh_events_hourly(conn, NOW, lookback=timedelta(hours=1))
    assert not any(k[1] == "hygiene" for k in counts(conn))


def test_camera_moving_to_another_grid_is_replaced(conn: psycopg.Connection) -> None:
    conn.execute("UPDATE cameras SET lon = 118.5, lat = 32.5 WHERE camera_id = 'cam-out'")
    insert_events(conn, [("edge-1", NOW, "hygiene", None, "cam-out")])
    refresh_events_hourly(conn, NOW)
    assert refresh_event_places(conn, NOW) == 1
    row = conn.execute("SELECT grid_id, district FROM rollup_events_hourly WHERE camera_id = 'cam-out'").fetchone()
    assert row == ("g-1", "d-1")
