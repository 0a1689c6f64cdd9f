"""Opening a citizen's case: the category's kind, the same routing, severity rules, SLA and work-order lifecycle as a
device's incident, the photos in the evidence store beside the officers' own. One transaction (the caller's)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from cloud_hub.dispatch import store as dispatch_store
from cloud_hub.dispatch.assign import Route, pool_for
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.evidence.store import EvidenceStore
from cloud_hub.incidents.severity import classify
from cloud_hub.reports import store
from cloud_hub.reports.models import ReportPlace, ReportSubmission, canonical_content, differences
from cloud_hub.reports.rules import REPORTS_FILE, ReportRules
from cloud_hub.rules.models import HubRules
from cloud_hub.workorders import photos as photo_store
from cloud_hub.workorders import store as work_orders
from cloud_hub.workorders.images import ImageRejected, PhotoInfo, inspect_photo
from cloud_hub.workorders.sla import due_at

MAX_CLOCK_SKEW = timedelta(minutes=5)  # the hotline's clock may run a little ahead of the hub's


class ReportRefused(Exception):
    """The report cannot be taken as sent: `status` (409, 413, 415, 422) and a message naming the field and fix."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Context:
    """What opening a case needs beside the connection (the hub's loaded rules, grids and evidence store)."""

    report_rules: ReportRules
    hub_rules: HubRules
    grids: GridDirectory
    evidence: EvidenceStore
    now: datetime


@dataclass(frozen=True, slots=True)
class _Photo:
    data: bytes
    sha256: str
    info: PhotoInfo


def uploader(client_id: str) -> str:
    """`uploaded_by` of a citizen's photo: the hotline client, never a user name."""
    return f"hotline:{client_id}"


def _photos(submission: ReportSubmission, local_zone: ZoneInfo) -> list[_Photo]:
    out = []
    for n, photo in enumerate(submission.photos):
        try:
            data = base64.b64decode("".join(photo.data.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ReportRefused(422, f"photos[{n}].data: not valid base64") from None
        try:
            info = inspect_photo(data, local_zone)
        except ImageRejected as exc:
            raise ReportRefused(exc.status, f"photos[{n}]: {exc.detail}") from None
        out.append(_Photo(data, hashlib.sha256(data).hexdigest(), info))
    return out


def _route(conn: psycopg.Connection, ctx: Context, place: ReportPlace) -> tuple[str | None, str | None, Route]:
    """(grid_id, district, route): the place's grid from the same grid directory as the ingest path, then the same
    dispatch (officers on duty, the routing.yaml fallbacks, load balancing with the shared turn, else the district's
    commander queue) as a device's incident gets in cloud_hub.incidents.processor."""
    index = ctx.grids.refresh_if_stale(conn)
    grid = index.grid_for(place.lon, place.lat) if place.lon is not None and place.lat is not None else None
    district = grid.district_id if grid and grid.district_id else place.district
    why = (
        f"no grid contains ({place.lon}, {place.lat})"
        if place.lon is not None
        else "the report gives an address but no coordinates"
    )
    pool = pool_for(index, grid.grid_id if grid else None, ctx.now, ctx.hub_rules.routing.fallbacks, why)
    [route] = dispatch_store.route(conn, [(pool, district)])
    return (grid.grid_id if grid else None), district, route


def submit(conn: psycopg.Connection, client_id: str, submission: ReportSubmission, ctx: Context) -> tuple[int, bool]:
    """Open the case, or find it again on a faithful retry. Returns (work order id, whether it was a replay).
    Raises ReportRefused: unknown category or district, a bad photo, or the number used for another case (409)."""
    category = ctx.report_rules.categories.get(submission.category)
    if category is None:
        known = ", ".join(sorted(ctx.report_rules.categories)) or "none"
        raise ReportRefused(
            422, f"category: {submission.category!r} is not a hotline category (known: {known}; see {REPORTS_FILE})"
        )
    if submission.reported_at is not None and submission.reported_at > ctx.now + MAX_CLOCK_SKEW:
        raise ReportRefused(422, "reported_at: lies in the future; send when the citizen called (with its offset)")
    place = submission.place
    if place.district is not None and not store.district_exists(conn, place.district):
        raise ReportRefused(422, f"place.district: unknown district {place.district!r}")
    photos = _photos(submission, ZoneInfo(ctx.hub_rules.sla.calendar("blue").timezone))  # the city's local time
    content = canonical_content(submission, [p.sha256 for p in photos])
    reported_at = submission.reported_at or ctx.now
    case = store.NewCase(
        client_id, submission.case_number, content, submission.category, category.kind, submission.text,
        place.address, place.lon, place.lat, reported_at,
    )  # fmt: skip
    stored = store.claim_case(conn, case)
    if stored is not None:
        differ = differences(stored["content"], content)
        if differ:
            raise ReportRefused(
                409,
                f"case {submission.case_number} was already reported with different {', '.join(differ)}; "
                "a new case needs a new case number",
            )
        return int(stored["work_order_id"]), True

    grid_id, district, route = _route(conn, ctx, place)
    severity = category.severity or classify(ctx.hub_rules.severity, category.kind, category.subtype, {})
    incident_id = store.insert_incident(
        conn,
        store.ReportIncident(
            incident_key=f"{client_id}/{submission.case_number}",
            kind=category.kind,
            subtype=category.subtype,
            severity=severity,
            lon=place.lon,
            lat=place.lat,
            grid_id=grid_id,
            district=district,
            seen_at=reported_at,
        ),
    )
    [order_id] = work_orders.create_work_orders(
        conn,
        [
            work_orders.NewWorkOrder(
                incident_id=incident_id,
                kind=category.kind,
                subtype=category.subtype,
                severity=severity,
                grid_id=grid_id,
                district=district,
                assignee=route.assignee,
                due_at=due_at(ctx.hub_rules.sla, category.kind, severity, ctx.now),
                note=f"citizen's report, case {submission.case_number} from {client_id}; {route.note}",
                queue=route.queue,
            )
        ],
    )
    _store_photos(conn, ctx, client_id, submission, photos, order_id)
    store.link_case(conn, client_id, submission.case_number, incident_id, order_id)
    return order_id, False


def _store_photos(
    conn: psycopg.Connection,
    ctx: Context,
    client_id: str,
    submission: ReportSubmission,
    photos: list[_Photo],
    order_id: int,
) -> None:
    for sent, photo in zip(submission.photos, photos, strict=True):
        ctx.evidence.put(photo.sha256, photo.data)  # content-addressed: a retry or a shared picture writes nothing
        note = f"citizen's photo, case {submission.case_number}" + (f": {sent.note}" if sent.note else "")
        photo_store.insert_photo(
            conn,
            photo_store.NewPhoto(
                work_order_id=order_id,
                uploaded_by=uploader(client_id),
                sha256=photo.sha256,
                content_type=photo.info.content_type,
                bytes=len(photo.data),
                width=photo.info.width,
                height=photo.info.height,
                taken_at=sent.taken_at or photo.info.taken_at,
                lon=photo.info.lon,
                lat=photo.info.lat,
                note=note,
            ),
        )


def resolution_note(history: list[dict[str, Any]]) -> str | None:
    """What the officer (or reviewer) wrote when the case was last resolved or called a false alarm. Pure."""
    for step in reversed(history):
        if step["status"] in ("resolved", "false_alarm") and step["note"]:
            return str(step["note"])
    return None
