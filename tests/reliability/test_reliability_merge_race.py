"""Two hub replicas (two processes, two connections) store the two sources of one situation at the same moment, a
flood seen by a camera and by a water-level gauge 60 m away: one incident fed by both, one work order.

Each replica runs the real ingest path (validation, `store_batch` with the IncidentProcessor) and then holds its
transaction open until the other replica has got as far, or a few seconds have passed. Without the place locks
both reach that point having seen no incident and both commit one; with them the second waits inside its batch
until the first commits, then finds the first one's incident and joins it."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path

import orjson
import psycopg
import pytest

from cityops.contract.messages import format_ts, new_event_id, utc_now
from cityops.contract.topics import Topic, device_topic
from cloud_hub.devices.registry import provision_device
from cloud_hub.seed.demo import DEMO_LOCATION, seed_demo
from cloud_hub.store.migrations import migrate
from cloud_hub.store.scratch import scratch_database

ADMIN_URL = os.environ.get("CITYOPS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RULES_DIR = Path(__file__).resolve().parents[2] / "rules" / "hub"
GAUGE = "wl-race-gauge"
CAMERA_DEVICE = "edge-race-cam"
HOLD_S = 4.0  # how long a replica keeps its transaction open waiting for the other (a bound, not a measurement)


class _NoBroker:
    def provision_device(self, device_id: str, password: str) -> None:
        """Broker credentials are not part of this test."""


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with scratch_database(ADMIN_URL, prefix="cityops_race") as url:
        migrate(url)
        with psycopg.connect(url) as conn:
            seed_demo(conn)
            lat = DEMO_LOCATION["lat"] + 60 / 111_320
            provision_device(conn, _NoBroker(), GAUGE, "sensor", lon=DEMO_LOCATION["lon"], lat=lat)
            # An earlier event in the same time range: on TimescaleDB the first insert creates the hypertable's chunk,
            # which would make the replicas' inserts wait for each other and hide the race this test is about.
            conn.execute(
                "INSERT INTO events (device_id, event_id, seq, ts, received_at, kind, phase, incident_key, payload)"
                " VALUES ('edge-race-earlier', %s, 1, now(), now(), 'waterlogging', 'end', 'earlier', '{}')",
                (new_event_id(),),
            )
        yield url


def _message(device_id: str, event: dict) -> tuple[str, bytes]:
    body = {"schema": "cityops.events/1", "device_id": device_id, "events": [event]}
    return device_topic(device_id, Topic.EVENTS), orjson.dumps(body)


def _replica(url: str, topic: str, payload: bytes, start: Barrier, hold: Barrier) -> None:
    """One hub replica's ingest of one message, in its own process."""
    from cloud_hub.dispatch.directory import GridDirectory
    from cloud_hub.incidents.processor import IncidentProcessor
    from cloud_hub.ingest.storage import store_batch
    from cloud_hub.ingest.validation import ValidationLimits, validate_message
    from cloud_hub.rules.loader import RulesStore

    with psycopg.connect(url) as conn:
        processor = IncidentProcessor(GridDirectory.load(conn), RulesStore(RULES_DIR))
        conn.commit()
        now = utc_now()
        batch = [validate_message(topic, payload, now, ValidationLimits())]
        start.wait(timeout=30)
        outcome = store_batch(conn, batch, [processor], now)
        assert outcome.events_stored == 1 and not outcome.processor_errors, outcome
        # Keep the transaction open while the other replica works; broken (timed out): the other one is waiting
        # for our locks, so commit and let it go on.
        with contextlib.suppress(threading.BrokenBarrierError):
            hold.wait(timeout=HOLD_S)
        conn.commit()


def test_two_replicas_storing_two_sources_at_once_make_one_incident_and_one_work_order(database_url: str) -> None:
    ts = format_ts(utc_now())
    camera = _message(CAMERA_DEVICE, {
        "event_id": new_event_id(), "seq": 1, "ts": ts, "kind": "waterlogging", "subtype": "ponding",
        "phase": "start", "incident_key": "cam-race/underpass/water", "camera_id": "cam-race",
        "location": {"lon": DEMO_LOCATION["lon"], "lat": DEMO_LOCATION["lat"]},
        "measurements": {"water_depth_cm": 25.0},
    })  # fmt: skip
    gauge = _message(GAUGE, {
        "event_id": new_event_id(), "seq": 1, "ts": ts, "kind": "waterlogging", "subtype": "water_level_high",
        "phase": "start", "incident_key": f"telemetry/{GAUGE}/s1/water_level_cm/water-level-high",
        "measurements": {"water_level_cm": 27.0},
    })  # fmt: skip
    context = multiprocessing.get_context("fork")  # the parent holds no connection here
    start, hold = context.Barrier(2), context.Barrier(2)
    replicas = [
        context.Process(target=_replica, args=(database_url, topic, payload, start, hold))
        for topic, payload in (camera, gauge)
    ]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=120)
    assert [r.exitcode for r in replicas] == [0, 0]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE device_id <> 'edge-race-earlier'").fetchone() == (2,)
        assert conn.execute("SELECT status, source_count, event_count FROM incidents").fetchall() == [("open", 2, 2)]
        sources = conn.execute("SELECT device_id, status FROM incident_sources ORDER BY device_id").fetchall()
        assert sources == [(CAMERA_DEVICE, "live"), (GAUGE, "live")]
        assert conn.execute("SELECT count(*), min(assignee) FROM work_orders").fetchone() == (1, "officer1")
