"""Model files for `model_update`: POST /api/v1/models (upload), GET /api/v1/models[/{sha256}] (registry) and
GET /api/v1/models/{sha256}/file (the download a device's `model_update` command points at).

Uploads are either the raw file (`Content-Type: application/octet-stream`, `?name=...&version=...`) or
multipart/form-data with the fields `name`, `version` and `file`. The body streams to disk while its sha256 is
computed, so model files of hundreds of megabytes never sit in memory.
"""

from __future__ import annotations

import logging
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials, HTTPBearer
from fastapi.security.http import HTTPAuthorizationCredentials
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from cityops.contract.model_release import key_id, public_key_text
from cloud_hub.api.deps import (
    ConnDep,
    Offset,
    SettingsDep,
    authenticate_device_token,
    authenticate_token,
    require_roles,
)
from cloud_hub.api.schemas import Page
from cloud_hub.auth.security import TokenError, decode_access_token, decode_device_token
from cloud_hub.auth.users import User
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import verify_device_secret
from cloud_hub.models_registry.files import (
    SHA256_PATTERN,
    ModelFileError,
    ModelFileStore,
    ModelTooLarge,
    StoredFile,
    models_dir,
)
from cloud_hub.models_registry.records import (
    ModelRecord,
    ModelRegistryError,
    check_name_and_version,
    get_model,
    list_models,
    model_file_url,
    register_model,
)
from cloud_hub.models_registry.signing import load_signing_key

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["models"])

WRITE_CHUNK = 1 << 20  # stream chunks are gathered to this size before a (threaded) disk write
MANAGERS = ("admin", "technician")


class ModelPublic(BaseModel):
    sha256: str
    name: str
    version: str
    bytes: int
    uploaded_by: str
    uploaded_at: str
    url: str  # what a model_update command carries


class ModelUploaded(ModelPublic):
    created: bool


def _public(record: ModelRecord, settings: HubSettings) -> ModelPublic:
    return ModelPublic(
        sha256=record.sha256,
        name=record.name,
        version=record.version,
        bytes=record.bytes,
        uploaded_by=record.uploaded_by,
        uploaded_at=record.uploaded_at.isoformat(),
        url=model_file_url(settings.hub_url, record.sha256),
    )


def _sha256(value: str) -> str:
    if not SHA256_PATTERN.fullmatch(value):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{value!r} is not a lowercase hex sha256")
    return value


async def _receive(
    request: Request, store: ModelFileStore, max_bytes: int
) -> tuple[str | None, str | None, StoredFile]:
    """Stream the upload to disk; returns (name, version, StoredFile). Raises HTTPException for a bad upload."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes + 64 * 1024:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"model files are limited to {max_bytes} bytes")
    name, version = request.query_params.get("name"), request.query_params.get("version")
    incoming = await anyio.to_thread.run_sync(store.begin, max_bytes)
    try:
        if content_type == "multipart/form-data":
            if length is None:  # the multipart parser spools the whole file before we see it: bound it up front
                raise HTTPException(status.HTTP_411_LENGTH_REQUIRED, "a multipart upload needs a Content-Length")
            form = await request.form(max_files=1, max_fields=10)
            name = str(form.get("name") or name or "") or None
            version = str(form.get("version") or version or "") or None
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "multipart upload needs a `file` part")
            while chunk := await upload.read(WRITE_CHUNK):
                await anyio.to_thread.run_sync(incoming.write, chunk)
        else:
            buffer = bytearray()
            async for chunk in request.stream():
                buffer += chunk
                if len(buffer) >= WRITE_CHUNK:
                    await anyio.to_thread.run_sync(incoming.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await anyio.to_thread.run_sync(incoming.write, bytes(buffer))
        return name, version, await anyio.to_thread.run_sync(incoming.commit)
    except ModelTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except ModelFileError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    finally:
        incoming.abort()  # no-op after a commit (the file was renamed away)


@router.post("/models", operation_id="upload_model", status_code=status.HTTP_201_CREATED)
async def upload_model_route(
    request: Request,
    response: Response,
    settings: SettingsDep,
    conn: ConnDep,
    user: Annotated[User, Depends(require_roles(*MANAGERS))],
    name: Annotated[str | None, Query(description="detector name the edge agent runs, e.g. yolox_nano")] = None,
    version: Annotated[str | None, Query(description="the model's version, e.g. 0.2.0")] = None,
) -> ModelUploaded:
    """Register a model file (201); the same file under the same name and version again is 200. `name` and
    `version` come from the query or, for multipart uploads, from form fields."""
    store = ModelFileStore(models_dir(settings))
    name, version, stored = await _receive(request, store, settings.model_max_bytes)
    try:
        name, version = check_name_and_version(name, version)
        created, record = await anyio.to_thread.run_sync(
            register_model, conn, stored.sha256, name, version, stored.bytes, user.username
        )
    except ModelRegistryError as exc:
        # A file this upload put there and nothing registers is removed again.
        if stored.created and await anyio.to_thread.run_sync(get_model, conn, stored.sha256) is None:
            store.delete(stored.sha256)
        raise HTTPException(exc.status, exc.detail) from None
    if created:
        log.info("model %s %s (sha256 %s) uploaded by %s", name, version, stored.sha256[:12], user.username)
    else:
        response.status_code = status.HTTP_200_OK
    return ModelUploaded(**_public(record, settings).model_dump(), created=created)


@router.get("/models", operation_id="list_models", dependencies=[Depends(require_roles(*MANAGERS, "commander"))])
def list_models_route(
    conn: ConnDep,
    settings: SettingsDep,
    name: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[ModelPublic]:
    """Registered model files, newest first."""
    records, count = list_models(conn, name, limit, offset)
    return Page[ModelPublic](data=[_public(r, settings) for r in records], count=count)


class SigningKey(BaseModel):
    public_key: str  # raw Ed25519 public key, base64: what a box lists in model_updates.trusted_keys
    key_id: str


@router.get(
    "/models/signing-key",
    operation_id="get_model_signing_key",
    dependencies=[Depends(require_roles(*MANAGERS, "commander"))],
)
def signing_key_route(settings: SettingsDep) -> SigningKey:
    """The public key of the hub's model signing key: boxes are provisioned with it and refuse model updates it
    did not sign. Declared before /models/{sha256} so that path does not take it."""
    public = public_key_text(load_signing_key(settings).public_key())
    return SigningKey(public_key=public, key_id=key_id(public))


@router.get("/models/{sha256}", operation_id="get_model", dependencies=[Depends(require_roles(*MANAGERS, "commander"))])
def get_model_route(sha256: str, conn: ConnDep, settings: SettingsDep) -> ModelPublic:
    record = get_model(conn, _sha256(sha256))
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model file with sha256 {sha256} is registered")
    return _public(record, settings)


_basic = HTTPBasic(auto_error=False)
_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str, scheme: str = "Basic") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": scheme})


def _device_or_manager(
    settings: SettingsDep,
    conn: ConnDep,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Who downloads: a device (HTTP Basic device_id:secret or a device token) or an admin/technician user."""
    if basic is not None:
        if basic.username and verify_device_secret(conn, basic.username, basic.password):
            return f"device {basic.username}"
        raise _unauthorized("unknown device or wrong device secret")
    if bearer is None:
        raise _unauthorized("device credentials (HTTP Basic or device token) or a user token are required")
    try:
        decode_access_token(settings, bearer.credentials)
    except TokenError as user_error:
        try:
            decode_device_token(settings, bearer.credentials)
        except TokenError:
            raise _unauthorized(f"token refused: {user_error}", "Bearer") from None
        return f"device {authenticate_device_token(settings, conn, bearer.credentials).device_id}"
    # A user token: the same checks as every other route (disabled user, ended session).
    user, _ = authenticate_token(settings, conn, bearer.credentials)
    if user.role not in MANAGERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role!r} may not download model files")
    return f"user {user.username}"


@router.get(
    "/models/{sha256}/file",
    operation_id="download_model_file",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_model_file_route(
    sha256: str, conn: ConnDep, settings: SettingsDep, who: Annotated[str, Depends(_device_or_manager)]
) -> FileResponse:
    record = get_model(conn, _sha256(sha256))
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model file with sha256 {sha256} is registered")
    path = ModelFileStore(models_dir(settings)).path(sha256)
    if not path.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"model {record.name} {record.version} is registered but its file is missing from {path.parent.parent} "
            "on this hub (CITYOPS_MODELS_DIR must be shared by all hub replicas)",
        )
    log.info("model %s %s downloaded by %s", record.name, record.version, who)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={"ETag": f'"{sha256}"', "X-Content-SHA256": sha256, "Cache-Control": "private, max-age=86400"},
    )
