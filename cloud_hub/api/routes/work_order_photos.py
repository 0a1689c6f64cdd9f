"""Work-order photos: officers upload what they saw on site (as evidence of a transition, or later), and whoever
may see the order views them. The bytes go to the evidence store (content-addressed, file or S3); a row in
`work_order_photos` says whose, when, where. A transition names its photos in `photos: [photo_id]`."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from cloud_hub.api.deps import ConnDep, SettingsDep
from cloud_hub.api.routes.work_orders import (
    IdempotencyKey,
    SlaDep,
    Worker,
    not_found,
    photo_public,
    respond_once,
)
from cloud_hub.api.schemas import Page, WorkOrderPhoto
from cloud_hub.auth.scope import load_scope
from cloud_hub.auth.users import User
from cloud_hub.core.config import HubSettings
from cloud_hub.evidence.factory import open_evidence_store
from cloud_hub.rules.models import SlaRules
from cloud_hub.workorders import idempotency, store
from cloud_hub.workorders import photos as photo_store
from cloud_hub.workorders.images import MAX_PHOTO_BYTES, ImageRejected, inspect_photo

router = APIRouter(prefix="/api/v1", tags=["work-orders"])

RAW_TYPES = ("image/jpeg", "image/png", "image/webp", "application/octet-stream")
_MULTIPART_SLACK = 64 * 1024  # boundaries and the small fields around the file
_FIELDS_SCHEMA = {
    "taken_at": {"type": "string", "format": "date-time", "description": "when it was taken (else EXIF)"},
    "lon": {"type": "number", "minimum": -180, "maximum": 180, "description": "where (else EXIF GPS)"},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "note": {"type": "string", "maxLength": 2000},
}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "the picture as the raw body (fields as query parameters), or multipart with a `file` part",
        "content": {
            **{media: _BINARY for media in RAW_TYPES[:3]},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}, **_FIELDS_SCHEMA},
                }
            },
        },
    }
}


class PhotoFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    taken_at: AwareDatetime | None = None
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _both_or_neither(self) -> PhotoFields:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together: send both or neither")
        return self


def _too_large() -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"a photo is limited to {MAX_PHOTO_BYTES} bytes")


async def _read_upload(request: Request) -> tuple[bytes, dict[str, str]]:
    """The picture's bytes and the multipart fields (none for a raw body), read with the size limit."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_PHOTO_BYTES + _MULTIPART_SLACK:
        raise _too_large()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=8, max_part_size=8192) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT, "file: send the picture in a multipart part named `file`"
                )
            data = await upload.read(MAX_PHOTO_BYTES + 1)
            fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
    elif media in RAW_TYPES or not media:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_PHOTO_BYTES:
                raise _too_large()
            chunks.append(chunk)
        data, fields = b"".join(chunks), {}
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {media} is not accepted: send image/jpeg, image/png, image/webp or multipart/form-data",
        )
    if len(data) > MAX_PHOTO_BYTES:
        raise _too_large()
    return data, fields


def _fields(query: dict[str, object], form: dict[str, str]) -> PhotoFields:
    values = {k: v for k, v in query.items() if v is not None} | {k: v for k, v in form.items() if v != ""}
    try:
        return PhotoFields.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'fields'}: {err['msg']}" for err in exc.errors()
        )
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from None


def _add_photo(
    conn: psycopg.Connection,
    user: User,
    settings: HubSettings,
    sla: SlaRules,
    request: Request,
    key: str | None,
    order_id: int,
    data: bytes,
    fields: PhotoFields,
) -> JSONResponse:
    sha256 = hashlib.sha256(data).hexdigest()

    def act() -> idempotency.Answer:
        if not store.visible(conn, order_id, load_scope(conn, user)):
            raise not_found(order_id)
        try:
            info = inspect_photo(data, ZoneInfo(sla.calendar("blue").timezone))  # the city's local time
        except ImageRejected as exc:
            raise idempotency.Refused(exc.status, exc.detail) from None
        open_evidence_store(settings).put(sha256, data)  # content-addressed: a retry writes nothing new
        place = (fields.lon, fields.lat) if fields.lon is not None else (info.lon, info.lat)
        row = photo_store.insert_photo(
            conn,
            photo_store.NewPhoto(
                work_order_id=order_id,
                uploaded_by=user.username,
                sha256=sha256,
                content_type=info.content_type,
                bytes=len(data),
                width=info.width,
                height=info.height,
                taken_at=fields.taken_at or info.taken_at,
                lon=place[0],
                lat=place[1],
                note=fields.note,
            ),
        )
        return idempotency.Answer(status.HTTP_201_CREATED, photo_public(row).model_dump(mode="json"))

    body = {"sha256": sha256, **fields.model_dump(mode="json")}
    return respond_once(conn, user, key, request, body, act)


@router.post(
    "/work-orders/{order_id}/photos",
    operation_id="add_work_order_photo",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkOrderPhoto,
    openapi_extra=_UPLOAD_BODY,
    responses={
        404: {"description": "no such work order for this user"},
        413: {"description": "over 10 MB, or over 40 megapixels"},
        415: {"description": "not a JPEG, PNG or WebP picture"},
        422: {"description": "a bad field, a truncated picture, or an Idempotency-Key used for another request"},
    },
)
async def add_work_order_photo(
    order_id: int,
    request: Request,
    conn: ConnDep,
    user: Worker,
    settings: SettingsDep,
    sla: SlaDep,
    taken_at: Annotated[datetime | None, Query(description="RFC 3339 with offset; default: the EXIF time")] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="default: the picture's EXIF GPS")] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    note: Annotated[str | None, Query(max_length=2000)] = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Upload a photo of the place to a work order the caller may see, at any time (also after resolving it).
    JPEG, PNG or WebP, at most 10 MB and 40 megapixels; give it to a transition later with `photos: [photo_id]`."""
    data, form = await _read_upload(request)
    fields = _fields({"taken_at": taken_at, "lon": lon, "lat": lat, "note": note}, form)
    return await run_in_threadpool(
        _add_photo, conn, user, settings, sla, request, idempotency_key, order_id, data, fields
    )


@router.get("/work-orders/{order_id}/photos", operation_id="list_work_order_photos")
def list_work_order_photos(order_id: int, conn: ConnDep, user: Worker) -> Page[WorkOrderPhoto]:
    """The photos of a work order, oldest first, each with the transition it documents (if any)."""
    if not store.visible(conn, order_id, load_scope(conn, user)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"work order {order_id} not found")
    photos = [photo_public(row) for row in photo_store.list_photos(conn, order_id)]
    return Page[WorkOrderPhoto](data=photos, count=len(photos))


@router.get(
    "/work-orders/{order_id}/photos/{photo_id}",
    operation_id="get_work_order_photo",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
        404: {"description": "no such photo for this user"},
    },
)
def get_work_order_photo(order_id: int, photo_id: UUID, conn: ConnDep, user: Worker, settings: SettingsDep) -> Response:
    """The picture's bytes, for whoever may see the work order."""
    if not store.visible(conn, order_id, load_scope(conn, user)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"work order {order_id} not found")
    row = photo_store.get_photo(conn, order_id, photo_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"photo {photo_id} of work order {order_id} not found")
    try:
        data = open_evidence_store(settings).get(row["sha256"])
    except FileNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the picture of photo {photo_id} is no longer stored") from None
    return Response(
        content=data,
        media_type=row["content_type"],
        headers={
            "ETag": f'"{row["sha256"]}"',
            "Cache-Control": "private, max-age=86400",
            "X-Content-Type-Options": "nosniff",
        },
    )
