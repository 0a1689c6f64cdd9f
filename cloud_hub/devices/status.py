"""A device's state as operators see it, from the retained `state` / Last Will and the health stream.

Pure: the row as stored plus `now` in, a status out. `online` comes from the retained state message (the Last Will
flips it to false when the connection dies uncleanly); `stale` means the device claims to be online but its
health snapshots stopped: a hung agent, or a half-open connection the broker has not noticed yet.

Faults are what a technician must go and look at, from the latest health snapshot: a camera that is not
delivering good pictures (any state but `ok` and `starting`: stalled, reconnecting, offline, frozen, occluded, ...)
and a desired configuration the device refused (`config_error`).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

DEFAULT_HEALTH_INTERVAL_S = 30.0  # protocol v1: health every 30 s by default
STALE_AFTER_INTERVALS = 3
INTERVAL_KEYS = ("health_interval_s", "interval_s")  # optional fields a device may add to its health snapshot
HEALTHY_CAMERA_STATES = ("ok", "starting")


class DeviceStatus(StrEnum):
    NEVER_SEEN = "never_seen"  # provisioned, nothing received yet
    ONLINE = "online"
    STALE = "stale"  # online per its state, but no health for more than 3 x its interval
    OFFLINE = "offline"  # its state (or Last Will) says offline


def health_interval_s(health: dict[str, Any] | None, default_s: float = DEFAULT_HEALTH_INTERVAL_S) -> float:
    """The interval the device reports in its health snapshot, else the protocol default."""
    for key in INTERVAL_KEYS:
        value = (health or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            return float(value)
    return default_s


def health_ts(health: dict[str, Any] | None) -> datetime | None:
    text = (health or {}).get("ts")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def device_status(
    online: bool,
    last_seen: datetime | None,
    health: dict[str, Any] | None,
    now: datetime,
    heard_at: datetime | None = None,
) -> DeviceStatus:
    """`heard_at`: when the hub last received the box's health (`devices.clock_offset_at`), on the hub's clock; the
    snapshot's own `ts` is on the box's, which a box hours off would turn into "stale" (or never stale)."""
    if not online:
        return DeviceStatus.NEVER_SEEN if last_seen is None and health is None else DeviceStatus.OFFLINE
    at = heard_at or health_ts(health) or last_seen
    if at is None:
        return DeviceStatus.ONLINE  # just connected: its first health snapshot is not due yet
    if now - at > timedelta(seconds=STALE_AFTER_INTERVALS * health_interval_s(health)):
        return DeviceStatus.STALE
    return DeviceStatus.ONLINE


# A box whose clock is off by more than this is listed with a fault (its events keep their seq order; the protocol
# dead-letters events over 5 minutes ahead, so the technician hears of a drifting clock well before that).
CLOCK_SKEW_S = 60.0


def clock_skewed(clock_offset_s: float | None) -> bool:
    return clock_offset_s is not None and abs(clock_offset_s) > CLOCK_SKEW_S


def device_faults(health: dict[str, Any] | None, clock_offset_s: float | None = None) -> list[str]:
    """What is wrong per the latest health snapshot, one readable line each (empty: nothing)."""
    faults = []
    if clock_skewed(clock_offset_s):
        assert clock_offset_s is not None
        ahead = "ahead of" if clock_offset_s > 0 else "behind"
        faults.append(f"clock {abs(clock_offset_s):.0f} s {ahead} the hub's: check the box's time sync (NTP)")
    cameras = (health or {}).get("cameras")
    for camera in cameras if isinstance(cameras, list) else []:
        state = camera.get("status") if isinstance(camera, dict) else None
        if isinstance(state, str) and state not in HEALTHY_CAMERA_STATES:
            faults.append(f"camera {camera.get('camera_id', '?')}: {state}")
    error = (health or {}).get("config_error")
    if error:
        faults.append(f"configuration refused: {error}")
    privacy = (health or {}).get("privacy")
    if isinstance(privacy, dict) and privacy.get("faces_blurred") is False:
        # Set on purpose on the box (privacy.send_faces_unblurred), but never to go unnoticed at the hub.
        faces = "faces NOT blurred: pictures from this box show faces (privacy.send_faces_unblurred)"
        faults.append(faces)
    return faults


def with_status(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The registry row plus `status`, `health_at`, `health_interval_s` and `faults` for the API."""
    health = row.get("health")
    return {
        **row,
        "status": device_status(bool(row.get("online")), row.get("last_seen"), health, now, row.get("clock_offset_at")),
        "health_at": health_ts(health),
        "health_interval_s": health_interval_s(health),
        "faults": device_faults(health, row.get("clock_offset_s")),
        "clock_skewed": clock_skewed(row.get("clock_offset_s")),
    }
