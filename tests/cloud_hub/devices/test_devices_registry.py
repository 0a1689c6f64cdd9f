"""Device registry against a real PostgreSQL: provisioning, secrets, re-provisioning, listing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from cloud_hub.devices.registry import DeviceError, get_device, list_devices, provision_device, verify_device_secret
from tests.cloud_hub.devices.broker_double import RecordingBrokerAdmin


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def new_id() -> str:
    return f"edge-{uuid.uuid4().hex[:10]}"


def test_provision_stores_hash_and_broker_password(conn: psycopg.Connection) -> None:
    admin = RecordingBrokerAdmin()
    device_id = new_id()
    secret = provision_device(conn, admin, device_id, "edge", 118.79, 32.06)
    assert len(secret) >= 40 and admin.passwords[device_id] == secret
    stored = conn.execute("SELECT secret_hash FROM devices WHERE device_id = %s", (device_id,)).fetchone()[0]
    assert stored.startswith("$argon2") and secret not in stored
    assert verify_device_secret(conn, device_id, secret)
    assert verify_device_secret(conn, device_id, secret)  # second time from the cache
    assert not verify_device_secret(conn, device_id, secret + "x")
    assert not verify_device_secret(conn, "edge-unknown-1", secret)


def test_reprovision_rotates_secret_and_keeps_seq_cursor(conn: psycopg.Connection) -> None:
    admin = RecordingBrokerAdmin()
    device_id = new_id()
    old = provision_device(conn, admin, device_id, "edge")
    assert verify_device_secret(conn, device_id, old)  # now cached
    conn.execute("UPDATE device_seq SET acked_seq = 42 WHERE device_id = %s", (device_id,))
    new = provision_device(conn, admin, device_id, "edge", 1.0, 2.0)
    assert new != old and admin.passwords[device_id] == new
    assert not verify_device_secret(conn, device_id, old)  # the cache does not outlive the rotation
    assert verify_device_secret(conn, device_id, new)
    device = get_device(conn, device_id)
    assert device is not None and device["acked_seq"] == 42 and (device["lon"], device["lat"]) == (1.0, 2.0)
    assert "secret_hash" not in device


def test_broker_failure_rolls_back(database_url: str) -> None:
    device_id = new_id()
    with psycopg.connect(database_url) as conn:
        with pytest.raises(RuntimeError, match="broker refused"), conn.transaction():
            provision_device(conn, RecordingBrokerAdmin(fail=True), device_id, "sensor")
        assert get_device(conn, device_id) is None


@pytest.mark.parametrize(
    ("device_id", "kind", "lon", "lat", "field"),
    [
        ("ab", "edge", None, None, "device_id"),
        ("bad/id", "edge", None, None, "device_id"),
        ("edge-ok-1", "camera", None, None, "kind"),
        ("edge-ok-1", "edge", 181.0, 0.0, "lon"),
        ("edge-ok-1", "edge", 0.0, -91.0, "lat"),
        ("edge-ok-1", "edge", 1.0, None, "lon and lat"),
    ],
)
def test_bad_input_names_the_field(
    conn: psycopg.Connection, device_id: str, kind: str, lon: float | None, lat: float | None, field: str
) -> None:
    with pytest.raises(DeviceError, match=field):
        provision_device(conn, RecordingBrokerAdmin(), device_id, kind, lon, lat)


def test_list_devices_filters_and_counts(conn: psycopg.Connection) -> None:
    admin = RecordingBrokerAdmin()
    sensor = f"sensor-{uuid.uuid4().hex[:10]}"
    provision_device(conn, admin, sensor, "sensor")
    rows, count = list_devices(conn, kind="sensor", limit=1000)
    assert sensor in [r["device_id"] for r in rows] and count == len(rows)
    assert all(r["kind"] == "sensor" for r in rows)
    rows, _ = list_devices(conn, kind="sensor", online=True)
    assert sensor not in [r["device_id"] for r in rows]
