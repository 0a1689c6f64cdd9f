"""The command centre's figures (commander and admin; a commander with districts sees those districts'):
GET /api/v1/stats/events-hourly and /sla-daily (the dashboard rollups), /summary (the KPI panels),
/incidents-hourly (incidents per hour of first sighting) and /precision (how often a camera, model, rule, zone or
kind was right, from reviewed work orders)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from cloud_hub.api.deps import ConnDep, CurrentUser, SettingsDep, require_roles
from cloud_hub.api.schemas import Page
from cloud_hub.auth.scope import load_scope
from cloud_hub.store import kpi
from cloud_hub.store.stats import (
    MAX_ROWS,
    EventsHourlyQuery,
    SlaDailyQuery,
    StatsQueryError,
    events_hourly,
    sla_daily,
)

router = APIRouter(
    prefix="/api/v1/stats",
    tags=["stats"],
    dependencies=[Depends(require_roles("admin", "commander"))],
)

EventDimension = Literal["kind", "subtype", "district", "grid_id", "device_id", "camera_id"]
SlaDimension = Literal["kind", "district"]


class EventsHourlyRow(BaseModel):
    bucket: datetime
    kind: str | None = None
    subtype: str | None = None
    district: str | None = None
    grid_id: str | None = None
    device_id: str | None = None
    camera_id: str | None = None
    events: int


class SlaDailyRow(BaseModel):
    day: date
    kind: str | None = None
    district: str | None = None
    due: int
    met: int
    breached: int
    overdue_open: int
    false_alarm: int
    compliance: float | None  # met / (met + breached); None while nothing due has been decided
    refreshed_at: datetime


def _unprocessable(exc: StatsQueryError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


@router.get("/events-hourly", operation_id="stats_events_hourly")
def events_hourly_route(
    conn: ConnDep,
    user: CurrentUser,
    since: Annotated[datetime | None, Query(description="first hour (RFC 3339); default 24 hours ago")] = None,
    until: Annotated[datetime | None, Query(description="end, exclusive (RFC 3339); default now")] = None,
    by: Annotated[list[EventDimension] | None, Query(description="group by these (repeat the parameter)")] = None,
    kind: str | None = None,
    district: str | None = None,
    grid_id: str | None = None,
    camera_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 1000,
) -> Page[EventsHourlyRow]:
    """Events per hour, grouped by `by` (default: kind). Counts are by the event's time (UTC hours)."""
    until = until or datetime.now(UTC)
    since = since or until - timedelta(hours=24)
    filters = {k: v for k, v in (("kind", kind), ("district", district), ("grid_id", grid_id),
                                 ("camera_id", camera_id)) if v is not None}  # fmt: skip
    try:
        query = EventsHourlyQuery(since, until, tuple(by or ("kind",)), filters, limit)
    except StatsQueryError as exc:
        raise _unprocessable(exc) from None
    rows, total = events_hourly(conn, query, load_scope(conn, user))
    return Page[EventsHourlyRow](data=[EventsHourlyRow.model_validate(r) for r in rows], count=total)


@router.get("/sla-daily", operation_id="stats_sla_daily")
def sla_daily_route(
    conn: ConnDep,
    user: CurrentUser,
    since: Annotated[date | None, Query(description="first due day (YYYY-MM-DD); default 30 days ago")] = None,
    until: Annotated[date | None, Query(description="last due day, inclusive; default today")] = None,
    by: Annotated[list[SlaDimension] | None, Query(description="group by these (repeat the parameter)")] = None,
    kind: str | None = None,
    district: str | None = None,
) -> Page[SlaDailyRow]:
    """SLA figures per due day (in the hub's rollup time zone), grouped by `by` (default: kind and district)."""
    until = until or datetime.now(UTC).date()
    if since is None and until < date.min + timedelta(days=30):
        # the default start would be before year 1 (an OverflowError, a 500, found by tests/fuzz)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"until: {until} is too early; give since as well")
    since = since or until - timedelta(days=30)
    filters = {k: v for k, v in (("kind", kind), ("district", district)) if v is not None}
    try:
        query = SlaDailyQuery(since, until, tuple(by or ("kind", "district")), filters)
    except StatsQueryError as exc:
        raise _unprocessable(exc) from None
    rows = sla_daily(conn, query, load_scope(conn, user))
    return Page[SlaDailyRow](data=[SlaDailyRow.model_validate(r) for r in rows], count=len(rows))


# --- KPI panels -----------------------------------------------------------------------------------------------

Since = Annotated[
    datetime | None, Query(description="start (RFC 3339 with time zone); default: until minus the default span")
]
Until = Annotated[datetime | None, Query(description="end, exclusive (RFC 3339 with time zone); default now")]


def _span(since: datetime | None, until: datetime | None, default: timedelta) -> kpi.TimeRange:
    until = until or datetime.now(UTC)
    try:
        return kpi.TimeRange(since or until - default, until)
    except OverflowError:  # the default start would be before year 1
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"until: {until.isoformat()} is too early; give since as well"
        ) from None
    except StatsQueryError as exc:
        raise _unprocessable(exc) from None


class SeverityCounts(BaseModel):
    red: int
    orange: int
    yellow: int
    blue: int


class KeyCount(BaseModel):
    key: str | None = Field(description="the kind or district; null for incidents without one")
    count: int


class WorkOrderCounts(BaseModel):
    open: int = Field(description="open now (someone still has to act)")
    overdue: int = Field(description="open, not yet resolved and past the deadline now")
    closed: int = Field(description="decided within the range: verified, closed or false_alarm")


class SlaFigures(BaseModel):
    met: int
    breached: int
    compliance: float | None = Field(description="met / (met + breached) of the due days in range; null: none")


class FleetFigures(BaseModel):
    total: int
    online: int
    stale: int
    offline: int
    never_seen: int
    cameras_with_open_fault: int


class StatsSummary(BaseModel):
    since: datetime
    until: datetime
    open_incidents_by_severity: SeverityCounts
    opened_by_kind: list[KeyCount] = Field(description="incidents first seen in the range, per kind, most first")
    opened_by_district: list[KeyCount]
    work_orders: WorkOrderCounts
    sla: SlaFigures
    fleet: FleetFigures = Field(description="devices are the whole city's for every role that sees devices")
    decided: int = Field(description="work orders decided (verified, closed, false_alarm) within the range")
    false_alarms: int
    false_alarm_rate: float | None = Field(description="false_alarms / decided; null when nothing was decided")


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@router.get("/summary", operation_id="stats_summary")
def summary_route(
    conn: ConnDep, user: CurrentUser, settings: SettingsDep, since: Since = None, until: Until = None
) -> StatsSummary:
    """The KPI panels' figures for a range (default: the last 24 hours)."""
    span = _span(since, until, timedelta(hours=24))
    scope = load_scope(conn, user)
    now = datetime.now(UTC)
    met, breached = kpi.sla_totals(conn, scope, span, settings.rollup_timezone)
    right, wrong = kpi.decisions(conn, scope, span)
    return StatsSummary(
        since=span.since,
        until=span.until,
        open_incidents_by_severity=SeverityCounts(**kpi.open_incidents_by_severity(conn, scope)),
        opened_by_kind=[KeyCount(key=k, count=n) for k, n in kpi.incidents_opened_by(conn, scope, span, "kind")],
        opened_by_district=[
            KeyCount(key=k, count=n) for k, n in kpi.incidents_opened_by(conn, scope, span, "district")
        ],
        work_orders=WorkOrderCounts(**kpi.work_order_counts(conn, scope, span, now)),
        sla=SlaFigures(met=met, breached=breached, compliance=_ratio(met, met + breached)),
        fleet=FleetFigures(
            **kpi.fleet_counts(kpi.fleet_rows(conn), now),
            cameras_with_open_fault=kpi.cameras_with_open_fault(conn, scope),
        ),
        decided=right + wrong,
        false_alarms=wrong,
        false_alarm_rate=_ratio(wrong, right + wrong),
    )


class IncidentsHourlyRow(BaseModel):
    bucket: datetime
    kind: str | None = None
    district: str | None = None
    incidents: int


@router.get("/incidents-hourly", operation_id="stats_incidents_hourly")
def incidents_hourly_route(
    conn: ConnDep,
    user: CurrentUser,
    since: Since = None,
    until: Until = None,
    by: Annotated[
        list[Literal["kind", "district"]] | None, Query(description="group by (repeatable); default kind")
    ] = None,
    kind: str | None = None,
    district: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 1000,
) -> Page[IncidentsHourlyRow]:
    """Incidents per UTC hour of their first sighting (default: the last 24 hours), oldest hour first."""
    span = _span(since, until, timedelta(hours=24))
    filters = {k: v for k, v in (("kind", kind), ("district", district)) if v is not None}
    try:
        rows, total = kpi.incidents_hourly(conn, load_scope(conn, user), span, tuple(by or ("kind",)), filters, limit)
    except StatsQueryError as exc:
        raise _unprocessable(exc) from None
    return Page[IncidentsHourlyRow](data=[IncidentsHourlyRow.model_validate(r) for r in rows], count=total)


class PrecisionRow(BaseModel):
    """One group's reviewed work orders; only the columns of the chosen grouping are filled."""

    camera_id: str | None = None
    zone_id: str | None = None
    model_name: str | None = None
    model_sha256: str | None = None
    rule_id: str | None = None
    rule_version: str | None = None
    kind: str | None = None
    decided: int
    true_positives: int = Field(description="verified or closed")
    false_alarms: int
    precision: float = Field(description="true_positives / decided")


@router.get("/precision", operation_id="stats_precision")
def precision_route(
    conn: ConnDep,
    user: CurrentUser,
    since: Since = None,
    until: Until = None,
    by: Annotated[
        Literal["camera", "model", "rule", "zone", "kind"],
        Query(description="camera, model (name + sha256), rule (id + version), zone (camera + zone) or kind"),
    ] = "camera",
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 1000,
) -> Page[PrecisionRow]:
    """Precision of the detections per group over work orders decided in the range (default: the last 30 days),
    worst first: who cries wolf. The group comes from the incident's first event (its model and rule)."""
    span = _span(since, until, timedelta(days=30))
    rows, total = kpi.precision(conn, load_scope(conn, user), span, by, limit)
    return Page[PrecisionRow](data=[PrecisionRow.model_validate(r) for r in rows], count=total)
