"""IngestService with a real Mosquitto and a real PostgreSQL: good messages stored, bad ones dead-lettered, the
ack published only after the commit.

The broker is CITYOPS_TEST_MQTT_URL when set. Otherwise the test starts a private anonymous Mosquitto on a free
loopback port: on a shared broker every other running hub also consumes this test's messages and publishes
acks for its devices, which would make "the ack came after our commit" unobservable. Without a mosquitto binary
it falls back to the local broker on 1883."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cityops.contract.messages import format_ts, new_event_id
from cloud_hub.core.config import HubSettings
from cloud_hub.core.types import IngestedEvent
from cloud_hub.ingest.inbound import partition_of
from cloud_hub.ingest.service import IngestService
from cloud_hub.store.db import create_pool

WAIT_S = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("CITYOPS_TEST_MQTT_URL")
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if configured or binary is None:
        yield configured or "mqtt://127.0.0.1:1883"
        return
    port = _free_port()
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if broker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {broker.stderr.read().decode()}") from None
                time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        broker.terminate()
        broker.wait(timeout=10)


@pytest.fixture
def settings(database_url: str, mqtt_url: str) -> HubSettings:
    # A share group of its own, so other hubs on a shared test broker do not take this test's messages.
    return HubSettings(database_url=database_url, mqtt_url=mqtt_url, share_group=f"t{uuid.uuid4().hex[:8]}")


class Device:
    """A plain paho client acting as an edge device; every ack it receives is checked against the database."""

    def __init__(self, settings: HubSettings, database_url: str, device_id: str | None = None) -> None:
        self.device_id = device_id or f"dev-{uuid.uuid4().hex[:10]}"
        self.database_url = database_url
        self.acks: queue.Queue[tuple[int, int]] = queue.Queue()  # (acked_seq, events stored when it arrived)
        endpoint = settings.mqtt
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv5)
        if endpoint.username:
            self.client.username_pw_set(endpoint.username, endpoint.password)
        self.client.on_message = self._on_ack
        self.client.connect(endpoint.host, endpoint.port)
        self.client.loop_start()
        self.client.subscribe(f"cityops/v1/dev/{self.device_id}/ack", qos=1)[1]

    def _on_ack(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with psycopg.connect(self.database_url) as conn:
            stored = conn.execute("SELECT count(*) FROM events WHERE device_id = %s", (self.device_id,)).fetchone()[0]
        self.acks.put((json.loads(msg.payload)["acked_seq"], stored))

    def publish(self, suffix: str, payload: bytes) -> None:
        self.client.publish(f"cityops/v1/dev/{self.device_id}/{suffix}", payload, qos=1).wait_for_publish(WAIT_S)

    def events(self, *seqs: int, extra: Sequence[object] = ()) -> bytes:
        now = format_ts(datetime.now(UTC))
        events = [
            {"event_id": new_event_id(), "seq": s, "ts": now, "kind": "illegal_parking", "phase": "start",
             "incident_key": f"cam-1/zone-a/track-{s}"}
            for s in seqs
        ]  # fmt: skip
        return json.dumps({"schema": "cityops.events/1", "device_id": self.device_id, "events": events + list(extra)})

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def service(settings: HubSettings) -> Iterator[tuple[IngestService, list[IngestedEvent]]]:
    seen: list[IngestedEvent] = []
    pool = create_pool(settings, min_size=1, max_size=2)
    svc = IngestService(
        settings,
        pool,
        [lambda conn, events: seen.extend(events)],
        client_id=f"test-hub-{uuid.uuid4().hex[:8]}",
        session_expiry_s=5,  # do not leave a queueing session behind on a shared broker
    )
    svc.start()
    assert svc.wait_ready(WAIT_S), f"ingest did not subscribe at {settings.mqtt_url}"
    yield svc, seen
    svc.stop()
    pool.close()


def test_events_stored_bad_input_dead_lettered_ack_after_commit(
    service: tuple[IngestService, list[IngestedEvent]], settings: HubSettings, database_url: str
) -> None:
    svc, seen = service
    device = Device(settings, database_url)
    try:
        device.publish("events", device.events(1, 2, extra=[{"seq": 3, "kind": "illegal_parking"}]))
        acked_seq, stored_at_ack = device.acks.get(timeout=WAIT_S)
        assert acked_seq == 2
        assert stored_at_ack == 2  # the ack was sent after the commit: the events were already visible

        device.publish("events", b"definitely not json")
        device.publish("events", device.events(3))
        acked_seq, stored_at_ack = device.acks.get(timeout=WAIT_S)
        assert (acked_seq, stored_at_ack) == (3, 3)
    finally:
        device.close()

    assert sorted(e.event.seq for e in seen if e.device_id == device.device_id) == [1, 2, 3]
    with psycopg.connect(database_url) as conn:
        letters = conn.execute(
            "SELECT reason FROM dead_letters WHERE device_id = %s ORDER BY reason", (device.device_id,)
        ).fetchall()
    assert [r[0] for r in letters] == ["missing_field", "not_json"]
    stats = svc.stats()
    assert stats["events_stored"] >= 3 and stats["dead_letters"] >= 2 and stats["mqtt_connected"]
    assert svc.healthy()


def test_duplicate_publish_is_acked_again_and_stored_once(
    service: tuple[IngestService, list[IngestedEvent]], settings: HubSettings, database_url: str
) -> None:
    _, seen = service
    device = Device(settings, database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO devices (device_id, kind, secret_hash) VALUES (%s, 'edge', 'x')", (device.device_id,))
    try:
        payload = device.events(1)
        device.publish("events", payload)
        assert device.acks.get(timeout=WAIT_S) == (1, 1)
        device.publish("events", payload)  # the device lost the ack and resends
        assert device.acks.get(timeout=WAIT_S) == (1, 1)
        device.publish("state", json.dumps({"online": True, "agent_version": "9.9"}).encode())
        assert poll(database_url, "SELECT online AND agent_version = '9.9' FROM devices WHERE device_id = %s",
                    device.device_id)  # fmt: skip
    finally:
        device.close()
    assert [e.event.seq for e in seen if e.device_id == device.device_id] == [1]


def poll(database_url: str, sql: str, *params: object) -> bool:
    """True once the query yields true (the writer works asynchronously); False after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            if conn.execute(sql, params).fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


class DownPool:
    """A database that cannot be reached at all."""

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        raise psycopg.OperationalError("connection refused (database down)")
        yield  # pragma: no cover


def test_messages_not_stored_are_not_acked_and_come_back_after_a_restart(
    settings: HubSettings, database_url: str
) -> None:
    client_id = f"test-hub-{uuid.uuid4().hex[:8]}"
    device = Device(settings, database_url)
    down = IngestService(settings, DownPool(), client_id=client_id, session_expiry_s=60)  # type: ignore[arg-type]
    down.start()
    try:
        assert down.wait_ready(WAIT_S)
        device.publish("events", device.events(1, 2))
        assert poll_true(lambda: down.stats()["db_errors"] >= 2)
        assert down.stats()["messages"] == 0 and device.acks.empty()
    finally:
        down.stop(drain_timeout_s=0.5)

    pool = create_pool(settings, min_size=1, max_size=2)
    up = IngestService(settings, pool, client_id=client_id, session_expiry_s=5)  # same session: gets them again
    up.start()
    try:
        assert device.acks.get(timeout=WAIT_S) == (2, 2)
    finally:
        up.stop()
        pool.close()
        device.close()


def poll_true(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_writers_split_the_devices_and_keep_each_devices_order(settings: HubSettings, database_url: str) -> None:
    """Three writer threads: every device is stored by one of them only, its acks never go backwards, and all of
    its events arrive exactly once and in seq order, while the devices together keep more than one writer busy."""
    settings = settings.model_copy(update={"ingest_writers": 3})
    run = uuid.uuid4().hex[:6]
    ids = [f"dev-{run}-{n}" for n in range(6)]
    assert len({partition_of(f"cityops/v1/dev/{d}/events", 3) for d in ids}) > 1  # the test needs a real split
    writer_of: dict[str, set[str]] = {}
    seen: list[IngestedEvent] = []

    def record(conn: psycopg.Connection, events: Sequence[IngestedEvent]) -> None:
        for e in events:
            writer_of.setdefault(e.device_id, set()).add(threading.current_thread().name)
        seen.extend(events)

    pool = create_pool(settings, min_size=1, max_size=3)
    svc = IngestService(settings, pool, [record], client_id=f"test-hub-{run}", session_expiry_s=5)
    svc.start()
    devices = [Device(settings, database_url, device_id) for device_id in ids]
    try:
        assert svc.wait_ready(WAIT_S)
        for first in (1, 3, 5):
            for device in devices:
                device.publish("events", device.events(first, first + 1))
        for device in devices:
            acked = [device.acks.get(timeout=WAIT_S)[0]]
            while acked[-1] < 6:
                acked.append(device.acks.get(timeout=WAIT_S)[0])
            assert acked == sorted(acked), f"{device.device_id}: acks went backwards: {acked}"
    finally:
        for device in devices:
            device.close()
        svc.stop()
        pool.close()
    for device_id in ids:
        assert [e.event.seq for e in seen if e.device_id == device_id] == [1, 2, 3, 4, 5, 6]
        assert len(writer_of[device_id]) == 1, f"{device_id} was stored by {writer_of[device_id]}"
    assert len(set().union(*writer_of.values())) > 1
    stats = svc.stats()
    assert stats["writers"] == 3 and stats["events_stored"] == 36 and stats["queue_max"] >= settings.ingest_queue_max
