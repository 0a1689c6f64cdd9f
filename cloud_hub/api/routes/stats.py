"""GET /api/v1/stats/events-hourly and /api/v1/stats/sla-daily: the dashboard rollups (commander and admin)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from cloud_hub.api.deps import ConnDep, require_roles
from cloud_hub.api.schemas import Page
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
    rows, total = events_hourly(conn, query)
    return Page[EventsHourlyRow](data=[EventsHourlyRow.model_validate(r) for r in rows], count=total)


@router.get("/sla-daily", operation_id="stats_sla_daily")
def sla_daily_route(
    conn: ConnDep,
    since: Annotated[date | None, Query(description="first due day (YYYY-MM-DD); default 30 days ago")] = None,
    until: Annotated[date | None, Query(description="last due day, inclusive; default today")] = None,
    by: Annotated[list[SlaDimension] | None, Query(description="group by these (repeat the parameter)")] = None,
    kind: str | None = None,
    district: str | None = None,
) -> Page[SlaDailyRow]:
    """SLA figures per due day (in the hub's rollup time zone), grouped by `by` (default: kind and district)."""
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=30)
    filters = {k: v for k, v in (("kind", kind), ("district", district)) if v is not None}
    try:
        query = SlaDailyQuery(since, until, tuple(by or ("kind", "district")), filters)
    except StatsQueryError as exc:
        raise _unprocessable(exc) from None
    rows = sla_daily(conn, query)
    return Page[SlaDailyRow](data=[SlaDailyRow.model_validate(r) for r in rows], count=len(rows))
