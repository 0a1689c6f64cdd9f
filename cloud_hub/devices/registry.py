"""Devices in the database: provisioning with per-device secrets, secret checks, listing.

Listing filters by kind, online, an id substring, and by status and faults; those two are computed by
`cloud_hub.devices.status` (one rule for lists, details and tests), so they are applied in Python to a light
projection of the candidates before one page of full rows is read.

The secret is shown once, at provisioning; only its argon2 hash is stored. Verifying argon2 costs tens of
milliseconds by design, so recent successful checks are cached in-process, keyed by the stored hash as well:
re-provisioning (a new hash) invalidates them at once.
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row

from cityops.contract.topics import DEVICE_ID_PATTERN
from cloud_hub.devices.status import INTERVAL_KEYS, device_faults, device_status

DEVICE_KINDS = ("edge", "sensor")
SECRET_BYTES = 32

_hasher = PasswordHasher()


class DeviceError(ValueError):
    """Bad provisioning input; the message names the field."""


class BrokerAdminLike(Protocol):
    """The part of cloud_hub.broker.dynsec.BrokerAdmin provisioning needs."""

    def available(self) -> bool: ...

    def provision_device(self, device_id: str, password: str) -> None: ...

    def remove_device(self, device_id: str) -> None: ...


def validate_device(device_id: str, kind: str, lon: float | None, lat: float | None) -> None:
    if not isinstance(device_id, str) or not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise DeviceError(f"device_id {device_id!r} is invalid: use 3-64 chars of [A-Za-z0-9_.-]")
    if kind not in DEVICE_KINDS:
        raise DeviceError(f"kind {kind!r} is invalid: use one of {', '.join(DEVICE_KINDS)}")
    if (lon is None) != (lat is None):
        raise DeviceError("lon and lat must be given together")
    if lon is not None and not (math.isfinite(lon) and -180 <= lon <= 180):
        raise DeviceError(f"lon {lon} is out of range -180..180")
    if lat is not None and not (math.isfinite(lat) and -90 <= lat <= 90):
        raise DeviceError(f"lat {lat} is out of range -90..90")


def provision_device(
    conn: psycopg.Connection,
    broker_admin: BrokerAdminLike,
    device_id: str,
    kind: str,
    lon: float | None = None,
    lat: float | None = None,
    actor: str | None = None,
) -> str:
    """Create or re-provision a device and return its new secret (shown once); `actor` is recorded as the
    provisioner (GET .../provisioning).

    Runs in the caller's transaction: the broker credentials are set last, so a broker failure rolls the
    database back. The device's seq cursor is created if missing and never reset (protocol: seq never goes back).
    """
    validate_device(device_id, kind, lon, lat)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    conn.execute(
        "INSERT INTO devices (device_id, kind, lon, lat, secret_hash, provisioned_by) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (device_id) DO UPDATE SET kind = EXCLUDED.kind, lon = coalesce(EXCLUDED.lon, devices.lon),"
        " lat = coalesce(EXCLUDED.lat, devices.lat), secret_hash = EXCLUDED.secret_hash, provisioned_at = now(),"
        " provisioned_by = EXCLUDED.provisioned_by, provision_count = devices.provision_count + 1,"
        " retired_at = NULL, retired_by = NULL",
        (device_id, kind, lon, lat, _hasher.hash(secret), actor),
    )
    conn.execute("INSERT INTO device_seq (device_id) VALUES (%s) ON CONFLICT DO NOTHING", (device_id,))
    broker_admin.provision_device(device_id, secret)
    _cache.forget(device_id)
    return secret


@dataclass(frozen=True, slots=True)
class DeviceAccess:
    """What decides whether a device's credentials still work."""

    generation: int  # provisioning count: a token of an earlier provisioning is worthless
    retired_at: datetime | None


def device_access(conn: psycopg.Connection, device_id: str) -> DeviceAccess | None:
    row = conn.execute("SELECT provision_count, retired_at FROM devices WHERE device_id = %s", (device_id,)).fetchone()
    return DeviceAccess(int(row[0]), row[1]) if row else None


RETIRED_SECRET_HASH = "!retired"  # not an argon2 hash: no secret ever verifies against it


def retire_device(conn: psycopg.Connection, broker_admin: BrokerAdminLike, device_id: str, actor: str) -> datetime:
    """Retire a device in the caller's transaction: secret and tokens refused from now on, broker account deleted
    (Mosquitto's dynamic security disconnects a connected client of a deleted account). Returns when."""
    row = conn.execute(
        "UPDATE devices SET retired_at = now(), retired_by = %s, secret_hash = %s, online = false"
        " WHERE device_id = %s AND retired_at IS NULL RETURNING retired_at",
        (actor, RETIRED_SECRET_HASH, device_id),
    ).fetchone()
    if row is None:
        access = device_access(conn, device_id)
        raise DeviceError(
            f"device {device_id!r} is not provisioned" if access is None else f"device {device_id!r} is already retired"
        )
    broker_admin.remove_device(device_id)
    _cache.forget(device_id)
    return row[0]


class _VerifiedCache:
    """Bounded LRU of (device_id, sha256(secret), stored hash) that verified recently."""

    def __init__(self, size: int = 4096, ttl_s: float = 300.0) -> None:
        self._size = size
        self._ttl_s = ttl_s
        self._entries: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: tuple[str, str, str]) -> bool:
        with self._lock:
            expires = self._entries.get(key)
            if expires is None or expires < time.monotonic():
                self._entries.pop(key, None)
                return False
            self._entries.move_to_end(key)
            return True

    def add(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._entries[key] = time.monotonic() + self._ttl_s
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, device_id: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == device_id]:
                del self._entries[key]


_cache = _VerifiedCache()


def verify_device_secret(conn: psycopg.Connection, device_id: str, secret: str) -> bool:
    """True when `secret` is the device's current secret. Unknown devices cost an argon2 check too (no timing
    oracle for which device ids exist)."""
    row = conn.execute("SELECT secret_hash FROM devices WHERE device_id = %s", (device_id,)).fetchone()
    stored = row[0] if row else None
    key = (device_id, hashlib.sha256(secret.encode()).hexdigest(), stored or "")
    if stored is not None and _cache.hit(key):
        return True
    try:
        _hasher.verify(stored or _dummy_hash(), secret)
    except (VerificationError, InvalidHashError):
        return False
    if stored is None:
        return False
    _cache.add(key)
    return True


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(SECRET_BYTES))


DEVICE_COLUMNS = (
    "d.device_id, d.kind, d.lon, d.lat, d.created_at, d.provisioned_at, d.online, d.last_seen, d.state_ts,"
    " d.agent_version, d.config_version, d.models, d.health, coalesce(s.acked_seq, 0) AS acked_seq, d.retired_at,"
    " d.clock_offset_s, d.clock_offset_at"
)


# What status and faults are computed from, without the rest of the health snapshot (NULL stays NULL: never seen).
_STATUS_HEALTH = (
    "CASE WHEN d.health IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object("
    + ", ".join(f"'{key}', d.health->'{key}'" for key in ("ts", *INTERVAL_KEYS, "cameras", "config_error", "privacy"))
    + ")) END"
)


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_devices(
    conn: psycopg.Connection,
    *,
    kind: str | None = None,
    online: bool | None = None,
    q: str | None = None,
    status: str | None = None,
    has_fault: bool | None = None,
    now: datetime | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Devices (never their secret hash) with their ack cursor, in device_id order, and the total count for the
    filters: `kind`, `online`, `q` (case-insensitive device_id substring), `status` (a DeviceStatus value) and
    `has_fault` (see `device_faults`), the last two at `now`."""
    where, params = ["true"], {}
    if kind is not None:
        where.append("d.kind = %(kind)s")
        params["kind"] = kind
    if online is not None:
        where.append("d.online = %(online)s")
        params["online"] = online
    if q:
        where.append("d.device_id ILIKE %(q)s")
        params["q"] = _like_pattern(q)
    clause = " AND ".join(where)
    with conn.cursor(row_factory=dict_row) as cur:
        if status is None and has_fault is None:
            rows = cur.execute(
                f"SELECT {DEVICE_COLUMNS} FROM devices d LEFT JOIN device_seq s USING (device_id) WHERE {clause} "
                "ORDER BY d.device_id LIMIT %(limit)s OFFSET %(offset)s",
                {**params, "limit": limit, "offset": offset},
            ).fetchall()
            total = cur.execute(f"SELECT count(*) AS n FROM devices d WHERE {clause}", params).fetchone()
            return rows, int(total["n"]) if total else 0
        at = now or datetime.now(UTC)
        candidates = cur.execute(
            "SELECT d.device_id, d.online, d.last_seen, d.clock_offset_s, d.clock_offset_at,"
            f" {_STATUS_HEALTH} AS health FROM devices d WHERE {clause}"
            " ORDER BY d.device_id",
            params,
        ).fetchall()
        matching = [
            r["device_id"]
            for r in candidates
            if (
                status is None
                or device_status(r["online"], r["last_seen"], r["health"], at, r["clock_offset_at"]) == status
            )
            and (has_fault is None or bool(device_faults(r["health"], r["clock_offset_s"])) == has_fault)
        ]
        page = matching[offset : offset + limit]
        rows = cur.execute(
            f"SELECT {DEVICE_COLUMNS} FROM devices d LEFT JOIN device_seq s USING (device_id)"
            " WHERE d.device_id = ANY(%(ids)s) ORDER BY d.device_id",
            {"ids": page},
        ).fetchall()
    return rows, len(matching)


def get_provisioning(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    """When and by whom the device was provisioned (last), and how many times; never its secret or hash."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT device_id, kind, created_at, provisioned_at, provisioned_by, provision_count FROM devices"
            " WHERE device_id = %s",
            (device_id,),
        ).fetchone()


def get_device(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {DEVICE_COLUMNS} FROM devices d LEFT JOIN device_seq s USING (device_id) WHERE d.device_id = %s",
            (device_id,),
        ).fetchone()
