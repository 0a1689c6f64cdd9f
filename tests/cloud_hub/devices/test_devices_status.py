"""Device status from the retained state / Last Will and health staleness (3 x the health interval)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud_hub.devices.status import DeviceStatus, device_status, health_interval_s, with_status

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _health(age_s: float, **extra: object) -> dict[str, object]:
    return {"ts": (NOW - timedelta(seconds=age_s)).isoformat().replace("+00:00", "Z"), **extra}


def test_offline_and_never_seen_follow_the_state() -> None:
    assert device_status(False, None, None, NOW) is DeviceStatus.NEVER_SEEN
    assert device_status(False, NOW, _health(5), NOW) is DeviceStatus.OFFLINE  # Last Will after health


def test_online_until_three_intervals_without_health() -> None:
    assert device_status(True, NOW, _health(89), NOW) is DeviceStatus.ONLINE
    assert device_status(True, NOW, _health(91), NOW) is DeviceStatus.STALE


def test_device_reported_interval_is_used() -> None:
    assert health_interval_s(_health(0, health_interval_s=10)) == 10.0
    assert device_status(True, NOW, _health(31, health_interval_s=10), NOW) is DeviceStatus.STALE
    assert health_interval_s(_health(0, health_interval_s="fast")) == 30.0  # nonsense falls back to the default
    assert health_interval_s(_health(0, health_interval_s=True)) == 30.0


def test_online_without_health_uses_last_seen() -> None:
    assert device_status(True, None, None, NOW) is DeviceStatus.ONLINE
    assert device_status(True, NOW - timedelta(seconds=200), None, NOW) is DeviceStatus.STALE


def test_with_status_adds_api_fields() -> None:
    row = with_status({"online": True, "last_seen": NOW, "health": _health(1)}, NOW)
    assert row["status"] is DeviceStatus.ONLINE
    assert row["health_at"] == NOW - timedelta(seconds=1)
    assert row["health_interval_s"] == 30.0
