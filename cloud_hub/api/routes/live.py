"""GET /api/v1/live: the live channel as server-sent events (text/event-stream).

Authenticated like the rest of the API: `Authorization: Bearer <token>`, or `?access_token=` for the browser's
EventSource, which cannot send headers (the hub's access log redacts it). Resumes after `Last-Event-ID` (header, as
EventSource sends it on reconnect, or `?last_event_id=` for a new EventSource). Message types are the SSE event
names: `incident`, `work_order`, `device`, `mode`, plus `hello` (first), `resync` (reload your lists) and `reauth`
(token expired: refresh it and reconnect with the last id). Each data line is JSON {id, topic, op, at, data}.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from cloud_hub.api.deps import PoolDep, SettingsDep, authenticate_token
from cloud_hub.auth.scope import Scope, load_scope
from cloud_hub.auth.users import User
from cloud_hub.live.messages import Position, parse_topics
from cloud_hub.live.session import LiveSession

router = APIRouter(prefix="/api/v1", tags=["live"])


@dataclass(frozen=True, slots=True)
class Viewer:
    user: User
    scope: Scope
    expires_at: datetime


def _viewer(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    access_token: Annotated[str | None, Query(description="for EventSource, which cannot send headers")] = None,
) -> Viewer:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else access_token
    with pool.connection() as conn:
        user, claims = authenticate_token(settings, conn, token)
        return Viewer(user, load_scope(conn, user), claims.expires_at)


def _session(
    request: Request,
    viewer: Annotated[Viewer, Depends(_viewer)],
    pool: PoolDep,
    topics: Annotated[
        str | None, Query(description="comma separated: incident, work_order, device, mode (default: all you may see)")
    ] = None,
    last_event_id: Annotated[str | None, Header(description="resume after this position")] = None,
    resume: Annotated[str | None, Query(alias="last_event_id", description="resume after this position")] = None,
) -> LiveSession:
    # Checked here, before the stream starts: once it has started, an error can no longer be an HTTP status.
    relay = getattr(request.app.state, "live", None)
    if relay is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the live channel is not running in this hub process")
    try:
        wanted = parse_topics(topics, viewer.scope)
        cursor = last_event_id or resume
        resume_from = Position.parse(cursor) if cursor else None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None

    def reload_scope() -> Scope:
        with pool.connection() as conn:
            return load_scope(conn, viewer.user)

    return LiveSession(
        relay,
        pool.connection,
        viewer.scope,
        wanted,
        resume_from=resume_from,
        expires_at=viewer.expires_at,
        reload_scope=reload_scope,
    )


@router.get(
    "/live",
    response_class=EventSourceResponse,
    operation_id="live_stream",
    responses={
        200: {"description": "text/event-stream of {id, topic, op, at, data} messages"},
        401: {"description": "not logged in or token expired"},
        503: {"description": "this hub process does not run the live relay"},
    },
)
async def live_stream(session: Annotated[LiveSession, Depends(_session)]) -> AsyncIterable[ServerSentEvent]:
    """New and changed incidents, work orders (every transition), devices and modes, as the user may see them."""
    async for event in session.events():
        yield event
