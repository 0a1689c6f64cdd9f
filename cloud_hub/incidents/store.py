"""Data access for incidents: lock and load the situations of a batch, write merged incidents; scoped queries.

Locks of the ingest path, always in this order (cloud_hub/ingest/storage.py has the whole argument):
1. place cells (`lock_places`), only for situations that start and may join an incident nearby;
2. situations (`lock_situations`): every key of the batch, the keys those are merged into, the keys of the
   incidents a starting situation may join, in one sorted statement;
3. then rows: work orders (severity sync, notes), dispatch turns, last the device cursors.
A situation merged into another incident is guarded by that incident's own key (also what closing its work order
locks), so every writer of an incident holds the same lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads

from cityops.contract.messages import Location
from cloud_hub.auth.scope import Scope, scope_sql
from cloud_hub.incidents.merge import Incident
from cloud_hub.incidents.nearby import Source
from cloud_hub.rules.models import SEVERITIES, SlaRules
from cloud_hub.workorders.sla import tightened_deadlines
from cloud_hub.workorders.state_machine import OPEN, SYSTEM, Status

_FIELDS = (
    "id, device_id, incident_key, kind, subtype, severity, status, camera_id, zone_id, lon, lat, grid_id, district,"
    " first_event_id::text, last_event_id::text, evidence_event_id::text, first_seen, last_seen, ended_at,"
    " event_count, confidence, measurements"
)
_PUBLIC = _FIELDS + ", created_at, updated_at"
# Open orders a system note goes to when their situation ends (a resolved one is verified by the system instead).
_NOTE_STATUSES: tuple[str, ...] = tuple(sorted(s.value for s in OPEN - {Status.RESOLVED, Status.REASSIGNED}))


# The columns of an Incident in its field order, so a fetched row becomes one positionally (no dict per row:
# this runs for every situation of every ingest batch).
_EVENT_ID_COLUMNS = ("first_event_id", "last_event_id", "evidence_event_id")  # uuid in SQL, str in Incident


def _incident_columns(alias: str) -> str:
    return ", ".join(
        f"{alias}.{f.name}::text" if f.name in _EVENT_ID_COLUMNS else f"{alias}.{f.name}"
        for f in dataclass_fields(Incident)
    )


_INCIDENT_COLUMNS = _incident_columns("i")


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


def lock_places(conn: psycopg.Connection, cells: Iterable[tuple[str, int, int]]) -> None:
    """Serialise starting situations of a kind near the same place across replicas (cells of
    `cloud_hub.incidents.nearby.place_cells`), in one sorted order; taken before any situation lock."""
    cells = sorted(set(cells))
    if cells:
        conn.execute(
            "SELECT pg_advisory_xact_lock(h) FROM ("
            " SELECT DISTINCT hashtextextended('place' || chr(31) || k || chr(31) || c || chr(31) || r, 1907) AS h"
            " FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS t(k, c, r) ORDER BY h) s",
            ([k for k, _, _ in cells], [c for _, c, _ in cells], [r for _, _, r in cells]),
        )


def lock_situations_merged(conn: psycopg.Connection, keys: Iterable[tuple[str, str]]) -> None:
    """`lock_situations` for the keys and for the own keys of the incidents they were merged into, in one sorted
    statement. Which incidents they feed is read at the statement's start, without a lock: a key is merged only
    under its own lock, so a merge that commits meanwhile shows when the caller loads them (and is locked then,
    late: `IncidentProcessor._lock_and_load`)."""
    keys = sorted(set(keys))
    if keys:
        # Each array is sent once (a repeated name is one parameter), in binary (no quoting per element).
        conn.execute(
            "SELECT pg_advisory_xact_lock(h) FROM ("
            " SELECT DISTINCT hashtextextended(u.d || chr(31) || u.k, 1907) AS h FROM ("
            "  SELECT d, k FROM unnest(%(d)b::text[], %(k)b::text[]) AS t(d, k)"
            "  UNION ALL"
            "  SELECT i.device_id, i.incident_key FROM incident_sources s"
            "  JOIN unnest(%(d)b::text[], %(k)b::text[]) AS t(d, k) ON s.device_id = t.d AND s.incident_key = t.k"
            "  JOIN incidents i ON i.id = s.incident_id"
            " ) u ORDER BY h) s",
            {"d": [d for d, _ in keys], "k": [k for _, k in keys]},
        )


def current_incidents(conn: psycopg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Incident]:
    """Per situation key: the open incident it feeds (its own, or the one it was merged into), else the most
    recent one, if any. The incident's own device_id and incident_key may differ from the key's."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    params = {"d": [d for d, _ in keys], "k": [k for _, k in keys]}  # each sent once, in binary
    with conn.cursor() as cur:
        set_json_loads(orjson.loads, cur)  # the measurements jsonb, for every row
        cur.execute(
            f"""
            SELECT DISTINCT ON (x.d, x.k) x.alias_d, x.alias_k, {_incident_columns("x")}
            FROM (
                SELECT t.d, t.k, NULL AS alias_d, NULL AS alias_k, i.* FROM incidents i
                    JOIN unnest(%(d)b::text[], %(k)b::text[]) AS t(d, k) ON i.device_id = t.d AND i.incident_key = t.k
                UNION ALL
                SELECT t.d, t.k, t.d, t.k, i.* FROM incident_sources s
                    JOIN unnest(%(d)b::text[], %(k)b::text[]) AS t(d, k)
                    ON s.device_id = t.d AND s.incident_key = t.k
                    JOIN incidents i ON i.id = s.incident_id
            ) x
            ORDER BY x.d, x.k, (x.status = 'open') DESC, x.id DESC
            """,
            params,
        )
        found: dict[tuple[str, str], Incident] = {}
        for row in cur.fetchall():  # the key comes back only when it differs from the incident's own (less to parse)
            incident = Incident(*row[2:])
            found[(row[0], row[1]) if row[0] is not None else (incident.device_id, incident.incident_key)] = incident
        return found


def nearby_open(
    conn: psycopg.Connection, boxes: Sequence[tuple[str, float, float, float, float]]
) -> list[tuple[int, tuple[str, str]]]:
    """For each (kind, west, south, east, north): the open incidents of that kind inside, as (box index, own key).
    Read without locks, to know which situations to lock; the caller reads them again under the locks."""
    if not boxes:
        return []
    columns = [list(column) for column in zip(*boxes, strict=True)]
    rows = conn.execute(
        "SELECT b.n - 1, i.device_id, i.incident_key"
        " FROM unnest(%s::text[], %s::float8[], %s::float8[], %s::float8[], %s::float8[])"
        "   WITH ORDINALITY AS b(kind, west, south, east, north, n)"
        " JOIN incidents i ON i.status = 'open' AND i.kind = b.kind"
        "   AND i.lat BETWEEN b.south AND b.north AND i.lon BETWEEN b.west AND b.east"
        "   AND i.device_id IS NOT NULL",  # a citizen's report (no device, no events) is not joined by detections
        columns,
    ).fetchall()
    return [(int(n), (d, k)) for n, d, k in rows]


def sources_of(conn: psycopg.Connection, incident_ids: Iterable[int]) -> dict[int, tuple[Source, ...]]:
    """The sources of incidents fed by more than one (incident id -> sources in the order they joined)."""
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT incident_id, device_id, incident_key, camera_id, zone_id, bbox, status FROM incident_sources"
        " WHERE incident_id = ANY(%s) ORDER BY incident_id, joined_at, device_id, incident_key",
        (ids,),
    ).fetchall()
    out: dict[int, list[Source]] = {}
    for incident_id, *fields in rows:
        out.setdefault(incident_id, []).append(Source(*fields))
    return {k: tuple(v) for k, v in out.items()}


def save_sources(conn: psycopg.Connection, rows: Sequence[tuple[int, Source, datetime]]) -> None:
    """Insert or update (status) the given (incident id, source, joined at) rows; one statement."""
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO incident_sources (incident_id, device_id, incident_key, camera_id, zone_id, bbox, status,"
            " joined_at) VALUES (%s, %s, %s, %s, %s, %s::real[], %s, %s)"
            " ON CONFLICT (incident_id, device_id, incident_key) DO UPDATE SET status = EXCLUDED.status,"
            " updated_at = now() WHERE incident_sources.status IS DISTINCT FROM EXCLUDED.status",
            [
                (i, s.device_id, s.incident_key, s.camera_id, s.zone_id, list(s.bbox) if s.bbox else None, s.status, at)
                for i, s, at in rows
            ],
        )


def resolved_orders(conn: psycopg.Connection, incident_ids: Iterable[int]) -> list[int]:
    """Ids of the resolved work orders (waiting for verification) of these incidents."""
    rows = conn.execute(
        "SELECT id FROM work_orders WHERE incident_id = ANY(%s) AND status = %s ORDER BY id",
        (sorted(incident_ids), Status.RESOLVED.value),
    ).fetchall()
    return [r[0] for r in rows]


def note_situation_ended(conn: psycopg.Connection, notes: Mapping[int, str]) -> list[int]:
    """Record on the open work order of each incident (id -> note) that its situation is no longer detected: an
    audit row that keeps the status (from = to) by the system; resolved orders are verified instead (the caller).
    One statement (one live message per order). Returns the ids of the orders noted."""
    if not notes:
        return []
    ids = sorted(notes)
    rows = conn.execute(
        "INSERT INTO work_order_transitions (work_order_id, from_status, to_status, actor, role, assignee, note)"
        " SELECT w.id, w.status, w.status, %s, %s, w.assignee, n.note"
        " FROM work_orders w JOIN unnest(%s::bigint[], %s::text[]) AS n(incident_id, note)"
        "   ON w.incident_id = n.incident_id"
        " WHERE w.status = ANY(%s) ORDER BY w.id RETURNING work_order_id",
        (SYSTEM.username, SYSTEM.role, ids, [notes[i] for i in ids], list(_NOTE_STATUSES)),
    ).fetchall()
    return [r[0] for r in rows]


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
        list(i.bbox) if i.bbox else None,
        i.source_count,
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
                ended_at, event_count, confidence, measurements, bbox, source_count)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::real[],
                %s)
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
    measurements = u.measurements::jsonb, source_count = u.source_count, updated_at = now()
FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::float8[], %b::float8[], %b::uuid[],
            %b::uuid[], %b::timestamptz[], %b::timestamptz[], %b::int[], %b::float4[], %b::text[], %b::int[])
    AS u(id, severity, status, camera_id, zone_id, lon, lat, last_event_id, evidence_event_id, last_seen, ended_at,
         event_count, confidence, measurements, source_count)
WHERE i.id = u.id
"""


def _float(value: float | None) -> float | None:
    # A binary array holds one type: an integral value (e.g. lon 120) must not turn the column into int8[].
    return None if value is None else float(value)


def _update_row(i: Incident) -> tuple[Any, ...]:
    return (
        i.id, i.severity, i.status, i.camera_id, i.zone_id, _float(i.lon), _float(i.lat), i.last_event_id,
        i.evidence_event_id, i.last_seen, i.ended_at, i.event_count, _float(i.confidence),
        orjson.dumps(dict(i.measurements)).decode(), i.source_count,
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


def sync_work_order_severity(
    conn: psycopg.Connection,
    incident_ids: Sequence[int],
    sla: SlaRules | None = None,
    now: datetime | None = None,
) -> None:
    """A situation that got worse (longer dwell, deeper water) moves its work order up the officer's list, and
    with `sla` (and `now`) its deadline tightens: the new severity's SLA from now, never later than the deadline
    it had (a suspended order's paused minutes shrink the same way). A milder severity keeps the deadline.
    Two statements whatever the number of orders."""
    if not incident_ids:
        return
    rows = conn.execute(
        "WITH old AS (SELECT w.id, w.severity FROM work_orders w JOIN incidents i ON i.id = w.incident_id"
        "   WHERE i.id = ANY(%s) AND w.severity <> i.severity FOR UPDATE OF w)"
        " UPDATE work_orders w SET severity = i.severity, updated_at = now() FROM old, incidents i"
        " WHERE w.id = old.id AND i.id = w.incident_id"
        " RETURNING w.id, w.kind, old.severity, w.severity, w.status, w.due_at, w.sla_remaining_min",
        (list(incident_ids),),
    ).fetchall()
    tightened = tightened_deadlines(rows, sla, now) if sla is not None else []
    if tightened:
        conn.execute(
            "UPDATE work_orders w SET due_at = t.due_at, sla_remaining_min = t.left_min"
            " FROM unnest(%s::bigint[], %s::timestamptz[], %s::float8[]) AS t(id, due_at, left_min) WHERE w.id = t.id",
            [list(column) for column in zip(*tightened, strict=True)],
        )


def set_severity_by_last_event(
    conn: psycopg.Connection, items: Sequence[tuple[str, str | None, UUID, str]]
) -> list[int]:
    """Set the severity of each incident found by (device, incident key, its last event id) where it differs: a
    telemetry rule's bands decide a sensor incident's colour. Returns the ids of the incidents changed."""
    if not items:
        return []
    rows = conn.execute(
        "UPDATE incidents i SET severity = t.sev, updated_at = now()"
        " FROM unnest(%s::text[], %s::text[], %s::uuid[], %s::text[]) AS t(d, k, e, sev)"
        " WHERE i.device_id = t.d AND i.incident_key = t.k AND i.last_event_id = t.e AND i.severity <> t.sev"
        " RETURNING i.id",
        [list(column) for column in zip(*items, strict=True)],
    ).fetchall()
    return [r[0] for r in rows]


def orders_opened_by(
    conn: psycopg.Connection, incident_ids: Sequence[int], first_event_ids: Sequence[UUID]
) -> list[tuple[int, str, str]]:
    """(order id, kind, incident severity) of the orders of these incidents opened by one of these events, whose
    severity differs from their incident's: orders created in this very transaction."""
    return conn.execute(
        "SELECT w.id, w.kind, i.severity FROM work_orders w JOIN incidents i ON i.id = w.incident_id"
        " WHERE i.id = ANY(%s) AND i.first_event_id = ANY(%s::uuid[]) AND w.severity <> i.severity",
        (list(incident_ids), list(first_event_ids)),
    ).fetchall()


def set_order_severity_and_due(conn: psycopg.Connection, updates: Sequence[tuple[int, str, datetime]]) -> None:
    """(order id, severity, due at) for orders whose deadline is still the first one."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE work_orders SET severity = %s, due_at = %s, updated_at = now() WHERE id = %s",
            [(severity, due, order_id) for order_id, severity, due in updates],
        )


def device_locations(conn: psycopg.Connection, device_ids: Iterable[str]) -> dict[str, Location]:
    """Where each device stands (devices without a place left out): a sensor's incidents are placed there."""
    rows = conn.execute(
        "SELECT device_id, lon, lat FROM devices WHERE device_id = ANY(%s) AND lon IS NOT NULL AND lat IS NOT NULL",
        (sorted(device_ids),),
    ).fetchall()
    return {device_id: Location(lon=lon, lat=lat) for device_id, lon, lat in rows}


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


# --- Reading incidents for the API (command centre, officers, technicians), scoped by `cloud_hub.auth.scope` ---

SORTS = ("last_seen", "first_seen", "severity")
_ORDER_BY = {
    "last_seen": "i.last_seen DESC, i.id DESC",
    "first_seen": "i.first_seen DESC, i.id DESC",
    "severity": "array_position(%(severities)s::text[], i.severity), i.last_seen DESC, i.id DESC",
}
# Someone still has to act in the field: open, and not resolved (waiting for review). The SLA rollup's
# `overdue_open` counts the same orders.
OVERDUE_STATUSES: tuple[str, ...] = tuple(sorted(s.value for s in OPEN - {Status.RESOLVED}))
_WORK_ORDER = (
    "w.id AS wo_id, w.status AS wo_status, w.assignee AS wo_assignee, w.due_at AS wo_due_at,"
    " (w.due_at < now() AND w.status = ANY(%(overdue_statuses)s)) AS wo_overdue"
)
_SELECT = ", ".join(f"i.{c.strip()}" for c in _PUBLIC.split(",")) + ", " + _WORK_ORDER
_FROM = "FROM incidents i LEFT JOIN work_orders w ON w.incident_id = i.id"


class IncidentQueryError(ValueError):
    """A request the incident queries refuse; the message names the parameter and the fix."""


@dataclass(frozen=True, slots=True)
class BBox:
    west: float
    south: float
    east: float
    north: float


def parse_bbox(text: str) -> BBox:
    """`west,south,east,north` in degrees (WGS 84), as the command centre's map sends its view. Pure."""
    example = "e.g. bbox=118.78,32.05,118.80,32.06"
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise IncidentQueryError(f"bbox must be four numbers west,south,east,north; {example}") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise IncidentQueryError(f"bbox needs -180 <= west <= east <= 180 and -90 <= south <= north <= 90; {example}")
    return BBox(west, south, east, north)


@dataclass(frozen=True, slots=True)
class IncidentFilters:
    status: tuple[str, ...] = ()  # any of these; empty: any
    kind: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    grid_id: str | None = None
    district: str | None = None
    camera_id: str | None = None
    device_id: str | None = None
    since: datetime | None = None  # last_seen >= since
    until: datetime | None = None  # last_seen < until
    overdue: bool | None = None  # True: has an open work order past its deadline; False: has none
    bbox: BBox | None = None
    sort: str = "last_seen"
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise IncidentQueryError(f"{name} needs a time zone, e.g. 2026-11-22T18:00:00Z")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise IncidentQueryError("until must be after since")
        if self.sort not in SORTS:
            raise IncidentQueryError(f"sort must be one of {', '.join(SORTS)}")


def _filter_sql(f: IncidentFilters, scope: Scope) -> tuple[str, dict[str, Any]]:
    visible, params = scope_sql(scope, alias="i", assignee="w.assignee")
    clauses = [visible]
    for column in ("status", "kind", "severity"):
        values = getattr(f, column)
        if values:
            clauses.append(f"i.{column} = ANY(%({column})s)")
            params[column] = list(values)
    for column in ("grid_id", "district", "camera_id", "device_id"):
        value = getattr(f, column)
        if value is not None:
            clauses.append(f"i.{column} = %({column})s")
            params[column] = value
    if f.since is not None:
        clauses.append("i.last_seen >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        clauses.append("i.last_seen < %(until)s")
        params["until"] = f.until
    if f.overdue is not None:
        overdue = "coalesce(w.due_at < now() AND w.status = ANY(%(overdue_statuses)s), false)"
        clauses.append(overdue if f.overdue else f"NOT {overdue}")
    if f.bbox is not None:
        clauses.append("i.lon BETWEEN %(west)s AND %(east)s AND i.lat BETWEEN %(south)s AND %(north)s")
        params.update(west=f.bbox.west, south=f.bbox.south, east=f.bbox.east, north=f.bbox.north)
    params["overdue_statuses"] = list(OVERDUE_STATUSES)
    return " AND ".join(clauses), params


def list_incidents(
    conn: psycopg.Connection, filters: IncidentFilters, scope: Scope
) -> tuple[list[dict[str, Any]], int]:
    """The incidents `scope` may see that match, each with its work order's summary (wo_* columns, NULL without
    one), sorted by `filters.sort`; and the total count before paging."""
    where, params = _filter_sql(filters, scope)
    with conn.cursor(row_factory=dict_row) as cur:
        count_row = cur.execute(f"SELECT count(*) AS n {_FROM} WHERE {where}", params).fetchone()
        rows = cur.execute(
            f"SELECT {_SELECT} {_FROM} WHERE {where} ORDER BY {_ORDER_BY[filters.sort]}"
            " LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "severities": list(SEVERITIES), "limit": filters.limit, "offset": filters.offset},
        ).fetchall()
    return rows, int(count_row["n"]) if count_row else 0


def get_incident(conn: psycopg.Connection, incident_id: int, scope: Scope) -> dict[str, Any] | None:
    """The incident with its work order's summary, or None when there is none `scope` may see."""
    visible, params = scope_sql(scope, alias="i", assignee="w.assignee")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_SELECT} {_FROM} WHERE i.id = %(id)s AND {visible}",
            {**params, "id": incident_id, "overdue_statuses": list(OVERDUE_STATUSES)},
        ).fetchone()
