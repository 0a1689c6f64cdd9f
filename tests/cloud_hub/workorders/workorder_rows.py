"""Row factories and small helpers for the work-order tests (a uniquely named module, imported by the test files)."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient
from PIL import ExifTags, Image

from cloud_hub.auth.users import ensure_user
from cloud_hub.rules.models import CalendarSpec, SlaRules
from cloud_hub.seed.demo import DEMO_PASSWORD

# 24x7 and round numbers, so deadlines are easy to check: red 30, orange 120, yellow 240, blue 480 minutes.
ALWAYS_SLA = SlaRules(
    calendars={"always": CalendarSpec(always=True)},
    severity_calendar={"red": "always", "orange": "always", "yellow": "always", "blue": "always"},
)
MINUTES = {"red": 30, "orange": 120, "yellow": 240, "blue": 480}


def add_user(conn: psycopg.Connection, username: str, role: str, districts: tuple[str, ...] = ()) -> str:
    ensure_user(conn, username, DEMO_PASSWORD, role)
    for district in districts:
        add_district(conn, district)
        conn.execute(
            "INSERT INTO user_districts (username, district_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (username, district),
        )
    return username


def add_district(conn: psycopg.Connection, district: str) -> str:
    conn.execute(
        "INSERT INTO districts (district_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (district, district)
    )
    return district


def add_grid(conn: psycopg.Connection, supervisor: str | None = None, district: str | None = None) -> str:
    grid_id = f"grid-{uuid.uuid4().hex[:8]}"
    if district:
        add_district(conn, district)
    conn.execute(
        "INSERT INTO grids (grid_id, district_id, name, polygon, supervisor) VALUES (%s, %s, 'g', %s, %s)",
        (grid_id, district, json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}),
         supervisor),
    )  # fmt: skip
    return grid_id


def add_roster(conn: psycopg.Connection, grid_id: str, username: str) -> None:
    conn.execute(
        "INSERT INTO rosters (roster_id, grid_id, username) VALUES (%s, %s, %s)",
        (uuid.uuid4().hex, grid_id, username),
    )


def add_order(
    conn: psycopg.Connection,
    *,
    status: str = "dispatched",
    assignee: str | None = None,
    grid_id: str | None = None,
    district: str | None = None,
    severity: str = "orange",
    kind: str = "illegal_parking",
    due: datetime | None = None,
    created: datetime | None = None,
    handled_by: str | None = None,
    suspended_from: str | None = None,
    model: dict | None = None,
    rule: dict | None = None,
) -> int:
    """An incident (with an evidence event carrying `model` and `rule`) and its work order, written directly."""
    event_id, device = uuid.uuid4(), "edge-wo-test"
    now = datetime.now(UTC)
    payload = {"event_id": str(event_id), "kind": kind, **({"model": model} if model else {}),
               **({"rule": rule} if rule else {})}  # fmt: skip
    conn.execute(
        "INSERT INTO events (device_id, event_id, seq, ts, kind, phase, incident_key, camera_id, payload)"
        " VALUES (%s, %s, 1, %s, %s, 'start', %s, 'cam-wo-1', %s)",
        (device, event_id, now, kind, f"key-{event_id}", json.dumps(payload)),
    )
    incident = conn.execute(
        "INSERT INTO incidents (device_id, incident_key, kind, severity, status, camera_id, lon, lat, grid_id,"
        " district, first_event_id, last_event_id, evidence_event_id, first_seen, last_seen, confidence, measurements)"
        " VALUES (%s, %s, %s, %s, 'open', 'cam-wo-1', 118.79, 32.06, %s, %s, %s, %s, %s, %s, %s, 0.87,"
        " '{\"dwell_s\": 120}') RETURNING id",
        (device, f"key-{event_id}", kind, severity, grid_id, district, event_id, event_id, event_id,
         now - timedelta(minutes=5), now),
    ).fetchone()[0]  # fmt: skip
    return conn.execute(
        "INSERT INTO work_orders (incident_id, kind, severity, status, assignee, grid_id, district, due_at, handled_by,"
        " suspended_from, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (incident, kind, severity, status, assignee, grid_id, district, due, handled_by, suspended_from,
         created or now),
    ).fetchone()[0]  # fmt: skip


def order(conn: psycopg.Connection, order_id: int) -> dict:
    row = conn.execute(
        "SELECT status, assignee, due_at, sla_remaining_min, severity, incident_id FROM work_orders WHERE id = %s",
        (order_id,),
    ).fetchone()
    return dict(zip(("status", "assignee", "due_at", "sla_remaining_min", "severity", "incident_id"), row, strict=True))


def count(conn: psycopg.Connection, sql: str, *params: object) -> int:
    return conn.execute(sql, params).fetchone()[0]


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def jpeg(width: int = 64, height: int = 48, taken: str | None = None, offset: str | None = None,
         gps: tuple[float, float] | None = None, color: str = "red") -> bytes:  # fmt: skip
    """A real JPEG, optionally with EXIF DateTimeOriginal ("YYYY:MM:DD HH:MM:SS"), its offset and GPS (lon, lat)."""
    exif = Image.Exif()
    if taken:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken
        if offset:
            exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps:
        lon, lat = gps
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
        info[ExifTags.GPS.GPSLatitudeRef], info[ExifTags.GPS.GPSLatitude] = "N", _dms(lat)
        info[ExifTags.GPS.GPSLongitudeRef], info[ExifTags.GPS.GPSLongitude] = "E", _dms(lon)
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def _dms(degrees: float) -> tuple[float, float, float]:
    d = int(degrees)
    m = int((degrees - d) * 60)
    return float(d), float(m), round((degrees - d - m / 60) * 3600, 4)


def image_bytes(fmt: str, size: tuple[int, int] = (32, 24), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, fmt)
    return buf.getvalue()


def noisy_jpeg(size: tuple[int, int] = (800, 600)) -> bytes:
    """A JPEG whose scan data is large (noise compresses badly), to cut it off in the middle."""
    buf = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()
