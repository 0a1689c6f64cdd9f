"""Data access for incidents: lock and load the situations of a batch, write merged incidents, query."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads

from cloud_hub.incidents.merge import Incident

_FIELDS = (
    "id, device_id, incident_key, kind, subtype, severity, status, camera_id, zone_id, lon, lat, grid_id, district,"
    " first_event_id::text, last_event_id::text, evidence_event_id::text, first_seen, last_seen, ended_at,"
    " event_count, confidence, measurements"
)
_PUBLIC = _FIELDS + ", created_at, updated_at"


# The columns of an Incident in its field order, so a fetched row becomes one positionally (no dict per row:
# this runs for every situation of every ingest batch).
_EVENT_ID_COLUMNS = ("first_event_id", "last_event_id", "evidence_event_id")  # uuid in SQL, str in Incident
_INCIDENT_COLUMNS = ", ".join(
    f"i.{f.name}::text" if f.name in _EVENT_ID_COLUMNS else f"i.{f.name}" for f in dataclass_fields(Incident)
)


def lock_situations(conn: psycopg.Connection, keys: Iterable[tuple[str, str]]) -> None:
    """Serialise work on the same situation across hub replicas until this transaction ends.

    Locks are taken in one sorted order so two replicas with overlapping batches cannot deadlock."""
    keys = sorted(set(keys))
    if keys:
        conn.execute(
            "SELECT pg_advisory_xact_lock(h) FROM ("
            " SELECT DISTINCT hashtextextended(d || chr(31) || k, 1907) AS h"
            " FROM unnest(%s::text[], %s::text[]) AS t(d, k) ORDER BY h) s",
            ([d for d, _ in keys], [k for _, k in keys]),
        )


def current_incidents(conn: psycopg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Incident]:
    """Per situation key: the open incident, else the most recent one, if any."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    with conn.cursor() as cur:
        set_json_loads(orjson.loads, cur)  # the measurements jsonb, for every row
        cur.execute(
            f"""
            SELECT DISTINCT ON (i.device_id, i.incident_key) {_INCIDENT_COLUMNS}
            FROM incidents i JOIN unnest(%s::text[], %s::text[]) AS t(d, k)
                ON i.device_id = t.d AND i.incident_key = t.k
            ORDER BY i.device_id, i.incident_key, (i.status = 'open') DESC, i.id DESC
            """,
            ([d for d, _ in keys], [k for _, k in keys]),
        )
        incidents = [Incident(*row) for row in cur.fetchall()]
    return {(i.device_id, i.incident_key): i for i in incidents}


def _row(i: Incident) -> tuple:
    return (
        i.device_id,
        i.incident_key,
        i.kind,
        i.subtype,
        i.severity,
        i.status,
        i.camera_id,
        i.zone_id,
        i.lon,
        i.lat,
        i.grid_id,
        i.district,
        i.first_event_id,
        i.last_event_id,
        i.evidence_event_id,
        i.first_seen,
        i.last_seen,
        i.ended_at,
        i.event_count,
        i.confidence,
        Jsonb(dict(i.measurements)),
    )


def insert_incidents(conn: psycopg.Connection, incidents: Sequence[Incident]) -> list[int]:
    if not incidents:
        return []
    ids: list[int] = []
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO incidents (device_id, incident_key, kind, subtype, severity, status, camera_id, zone_id, lon,
                lat, grid_id, district, first_event_id, last_event_id, evidence_event_id, first_seen, last_seen,
                ended_at, event_count, confidence, measurements)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING id
            """,
            [_row(i) for i in incidents],
            returning=True,
        )
        while True:
            row = cur.fetchone()
            assert row is not None
            ids.append(row[0])
            if not cur.nextset():
                break
    return ids


# One statement per batch, whatever the number of incidents: the merged rows travel as parallel arrays, in binary
# (%b: text arrays would be quoted element by element in Python).
_UPDATE_MANY = """
UPDATE incidents i SET severity = u.severity, status = u.status, camera_id = u.camera_id, zone_id = u.zone_id,
    lon = u.lon, lat = u.lat, last_event_id = u.last_event_id, evidence_event_id = u.evidence_event_id,
    last_seen = u.last_seen, ended_at = u.ended_at, event_count = u.event_count, confidence = u.confidence,
    measurements = u.measurements::jsonb, updated_at = now()
FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::float8[], %b::float8[], %b::uuid[],
            %b::uuid[], %b::timestamptz[], %b::timestamptz[], %b::int[], %b::float4[], %b::text[])
    AS u(id, severity, status, camera_id, zone_id, lon, lat, last_event_id, evidence_event_id, last_seen, ended_at,
         event_count, confidence, measurements)
WHERE i.id = u.id
"""


def _float(value: float | None) -> float | None:
    # A binary array holds one type: an integral value (e.g. lon 120) must not turn the column into int8[].
    return None if value is None else float(value)


def _update_row(i: Incident) -> tuple[Any, ...]:
    return (
        i.id, i.severity, i.status, i.camera_id, i.zone_id, _float(i.lon), _float(i.lat), i.last_event_id,
        i.evidence_event_id, i.last_seen, i.ended_at, i.event_count, _float(i.confidence),
        orjson.dumps(dict(i.measurements)).decode(),
    )  # fmt: skip


def update_incidents(conn: psycopg.Connection, incidents: Sequence[Incident]) -> None:
    if not incidents:
        return
    ids = [i.id for i in incidents]
    if None in ids or len(set(ids)) != len(ids):
        raise ValueError("update_incidents: every incident needs its own stored id")
    rows = [_update_row(i) for i in incidents]
    columns = [list(column) for column in zip(*rows, strict=True)]
    conn.execute(_UPDATE_MANY, columns)


def sync_work_order_severity(conn: psycopg.Connection, incident_ids: Sequence[int]) -> None:
    """A situation that got worse (longer dwell, deeper water) moves its work order up the officer's list.
    The deadline stays the one set at dispatch."""
    if incident_ids:
        conn.execute(
            "UPDATE work_orders w SET severity = i.severity, updated_at = now() FROM incidents i"
            " WHERE i.id = w.incident_id AND i.id = ANY(%s) AND w.severity <> i.severity",
            (list(incident_ids),),
        )


@dataclass(frozen=True, slots=True)
class CameraPlace:
    lon: float | None
    lat: float | None
    district: str | None


def camera_places(conn: psycopg.Connection, camera_ids: Iterable[str]) -> dict[str, CameraPlace]:
    ids = sorted(set(camera_ids))
    if not ids:
        return {}
    rows = conn.execute("SELECT camera_id, lon, lat, district FROM cameras WHERE camera_id = ANY(%s)", (ids,))
    return {r[0]: CameraPlace(r[1], r[2], r[3]) for r in rows.fetchall()}


def device_places(conn: psycopg.Connection, device_ids: Iterable[str]) -> dict[str, CameraPlace]:
    """Registered device locations (devices table of the ingest schema): the fallback for sensors without cameras."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT device_id, lon, lat FROM devices WHERE device_id = ANY(%s) AND lon IS NOT NULL AND lat IS NOT NULL",
        (ids,),
    )
    return {r[0]: CameraPlace(r[1], r[2], None) for r in rows.fetchall()}


@dataclass(frozen=True, slots=True)
class IncidentFilters:
    status: str | None = None
    kind: str | None = None
    severity: str | None = None
    since: datetime | None = None
    limit: int = 100
    offset: int = 0


def list_incidents(conn: psycopg.Connection, filters: IncidentFilters) -> tuple[list[dict[str, Any]], int]:
    """Matching incidents, most recently seen first, and the total count before paging."""
    where, params = [], {}
    for name in ("status", "kind", "severity"):
        value = getattr(filters, name)
        if value is not None:
            where.append(f"{name} = %({name})s")
            params[name] = value
    if filters.since is not None:
        where.append("last_seen >= %(since)s")
        params["since"] = filters.since
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT count(*) AS n FROM incidents {clause}", params)
        count_row = cur.fetchone()
        cur.execute(
            f"SELECT {_PUBLIC} FROM incidents {clause} ORDER BY last_seen DESC, id DESC"
            " LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": filters.limit, "offset": filters.offset},
        )
        rows = cur.fetchall()
    return rows, int(count_row["n"]) if count_row else 0


def get_incident(conn: psycopg.Connection, incident_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {_PUBLIC} FROM incidents WHERE id = %s", (incident_id,))
        return cur.fetchone()
