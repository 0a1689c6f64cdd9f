"""PUT /api/v1/evidence/{event_id} (devices upload a JPEG) and GET /api/v1/evidence/{event_id} (users view it, as
far as their role allows: `cloud_hub.evidence.access`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException, Request, Response, status
from pydantic import BaseModel

from cloud_hub.api.deps import ConnDep, CurrentUser, DeviceIdentity, SettingsDep
from cloud_hub.auth.scope import load_scope
from cloud_hub.core.config import HubSettings
from cloud_hub.evidence.access import refusal
from cloud_hub.evidence.factory import open_evidence_store
from cloud_hub.evidence.records import EvidenceRejected, Upload, get_evidence, put_evidence
from cloud_hub.evidence.store import EvidenceStore

router = APIRouter(prefix="/api/v1", tags=["evidence"])
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024


class EvidenceStored(BaseModel):
    event_id: str
    sha256: str
    bytes: int
    created: bool


def _store(settings: HubSettings) -> EvidenceStore:
    return open_evidence_store(settings)  # file or S3, per CITYOPS_EVIDENCE_URL


def _size_guard(request: Request) -> None:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_EVIDENCE_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"evidence is limited to {MAX_EVIDENCE_BYTES} bytes")


@router.put("/evidence/{event_id}", operation_id="put_evidence", status_code=status.HTTP_201_CREATED)
def put_evidence_route(
    event_id: uuid.UUID,
    request: Request,
    response: Response,
    device: DeviceIdentity,
    conn: ConnDep,
    settings: SettingsDep,
    body: Annotated[bytes, Body(media_type="image/jpeg")],
    content_type: Annotated[str | None, Header()] = None,
    x_content_sha256: Annotated[str | None, Header()] = None,
) -> EvidenceStored:
    """201 the first time, 200 for the same bytes again, 409 for different bytes, 400 for a wrong sha256."""
    _size_guard(request)
    if (content_type or "").split(";")[0].strip().lower() != "image/jpeg":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be image/jpeg")
    if len(body) > MAX_EVIDENCE_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"evidence is limited to {MAX_EVIDENCE_BYTES} bytes")
    try:
        outcome, record = put_evidence(conn, _store(settings), str(event_id), device.device_id, body, x_content_sha256)
    except EvidenceRejected as exc:
        raise HTTPException(exc.status, exc.detail) from None
    if outcome is Upload.SAME:
        response.status_code = status.HTTP_200_OK
    return EvidenceStored(
        event_id=record.event_id, sha256=record.sha256, bytes=record.bytes, created=outcome is Upload.CREATED
    )


@router.get(
    "/evidence/{event_id}",
    operation_id="get_evidence",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 403: {"description": "not a picture this user may view"}},
)
def get_evidence_route(event_id: uuid.UUID, conn: ConnDep, settings: SettingsDep, user: CurrentUser) -> Response:
    reason = refusal(conn, load_scope(conn, user), str(event_id))
    if reason is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, reason)
    try:
        record, data = get_evidence(conn, _store(settings), str(event_id))
    except EvidenceRejected as exc:
        raise HTTPException(exc.status, exc.detail) from None
    return Response(
        content=data,
        media_type=record.content_type,
        headers={"ETag": f'"{record.sha256}"', "Cache-Control": "private, max-age=86400"},
    )
