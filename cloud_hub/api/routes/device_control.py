"""Remote control of one device: commands, the desired configuration, camera snapshots and model updates.

- POST /devices/{id}/commands {name, args}: publish a `cmd` (audited); GET .../commands[/{cmd_id}]: its status,
  `pending` until the device's cmd_result arrives, then `ok` or `failed` with the device's detail (and `result`, the
  detail parsed, when it is a JSON object: snapshot and probe answers). `probe` {source, timeout_s, camera_id}
  reads one frame of a camera the box may not run yet (the add-a-camera wizard).
- PUT /devices/{id}/config: the next version of the desired configuration, published retained on `config`; its
  cameras are checked against the camera-rules JSON Schema first (422 listing each problem with its JSON path);
  POST .../config/validate: the same check, storing nothing; GET .../config: desired and applied version (from the
  device's health); .../config/history; .../config/publish. GET /schemas/camera-rules: the schema itself.
- PUT /devices/{id}/snapshots/{cmd_id} (the device, answering a `snapshot` or `probe` command) and
  GET .../snapshots/latest: the JPEG a technician draws zones on.
- POST /devices/{id}/model-update {sha256}: a `model_update` command for a registered model file.

Publishing needs this process's MQTT ingest (`app.state.ingest`); an API-only replica answers 503.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Header, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityops.contract.model_release import sign_release
from cloud_hub.api.deps import ConnDep, DeviceIdentity, Offset, PoolDep, SettingsDep, require_roles
from cloud_hub.api.routes.devices import DeviceViewer
from cloud_hub.api.schemas import Page
from cloud_hub.auth.users import User
from cloud_hub.devices import control
from cloud_hub.devices.camera_schema import SchemaMissing, load_camera_schema, validate_cameras
from cloud_hub.devices.control import CommandRecord, ControlError, DesiredConfig, SnapshotRecord
from cloud_hub.devices.registry import get_device
from cloud_hub.evidence.factory import open_evidence_store
from cloud_hub.models_registry.files import SHA256_PATTERN, ModelFileStore, models_dir
from cloud_hub.models_registry.records import get_model, model_file_url
from cloud_hub.models_registry.signing import load_signing_key

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["device control"])

Controller = Annotated[User, Depends(require_roles("admin", "technician"))]
Viewer = DeviceViewer  # admins, commanders, technicians (cloud_hub.auth.scope)
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_ARGS_BYTES = 16 * 1024
MAX_CONFIG_BYTES = 256 * 1024
MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024


# ---- schemas ----------------------------------------------------------------------------------------------------


class CommandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="snapshot, ping, restart_pipeline, ...")
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("args")
    @classmethod
    def _small(cls, args: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(args)) > MAX_ARGS_BYTES:
            raise ValueError(f"args are limited to {MAX_ARGS_BYTES} bytes of JSON")
        return args


class CommandSent(BaseModel):
    cmd_id: str
    device_id: str
    name: str
    args: dict[str, Any]
    status: str


class CommandPublic(CommandSent):
    ok: bool | None
    detail: str | None
    result: dict[str, Any] | None = Field(
        description="`detail` parsed, when the device answered a JSON object (snapshot: sha256, width, height; "
        "probe: width, height, fps, codec, snapshot); None otherwise"
    )
    sent_by: str
    role: str
    requested_at: datetime
    sent_at: datetime | None
    send_error: str | None
    result_at: datetime | None


class CameraConfig(BaseModel):
    """One camera's rules (zones, analytics): validated in full by the device; here only what the hub relies on."""

    model_config = ConfigDict(extra="allow")

    camera_id: str = Field(pattern=ID_PATTERN)


class ConfigUpdate(BaseModel):
    """The device's full desired configuration. `version`, when given, is the version the change is based on
    (optimistic concurrency: 409 when another change came first); the hub assigns the new version."""

    model_config = ConfigDict(extra="allow")

    version: int | None = Field(None, ge=0, description="expected current version; omit to overwrite whatever is")
    cameras: list[CameraConfig] | None = None

    @field_validator("cameras")
    @classmethod
    def _unique(cls, cameras: list[CameraConfig] | None) -> list[CameraConfig] | None:
        ids = [c.camera_id for c in cameras or []]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"camera_id must be unique; repeated: {', '.join(repeated)}")
        return cameras


class ConfigVersion(BaseModel):
    version: int
    config: dict[str, Any]
    set_by: str
    role: str
    set_at: datetime


class ConfigState(BaseModel):
    device_id: str
    desired: ConfigVersion | None
    applied_version: int | None  # what the device's latest health snapshot reports
    config_error: str | None  # why the device refused a configuration, from its health
    in_sync: bool


class ConfigValid(BaseModel):
    device_id: str
    valid: bool = Field(description="always true here: an invalid configuration is answered 422")
    cameras: list[str] = Field(description="camera_id of every camera checked")
    schema_id: str = Field(description="$id of the camera-rules schema used")


class SnapshotPublic(BaseModel):
    device_id: str
    cmd_id: str
    camera_id: str | None
    sha256: str
    bytes: int
    stored_at: datetime


class SnapshotStored(SnapshotPublic):
    created: bool


class ModelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=SHA256_PATTERN.pattern, description="a model file registered with POST /models")


# ---- helpers ----------------------------------------------------------------------------------------------------


def _ingest(request: Request) -> Any:
    ingest = getattr(request.app.state, "ingest", None)
    if ingest is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "this hub process does not run MQTT ingest (CITYOPS_INGEST=false), so it cannot reach devices; "
            "send device commands to a replica with ingest on",
        )
    return ingest


def _device(conn: Any, device_id: str) -> dict[str, Any]:
    row = get_device(conn, device_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} is not provisioned")
    return row


def _result(detail: str | None) -> dict[str, Any] | None:
    """A command result's detail as an object, when it is one (the protocol keeps `detail` a string)."""
    if not detail or not detail.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(detail)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _command_public(record: CommandRecord) -> CommandPublic:
    return CommandPublic(
        cmd_id=record.cmd_id or "",
        device_id=record.device_id,
        name=record.name,
        args=record.args,
        status=record.status,
        ok=record.ok,
        detail=record.detail,
        result=_result(record.detail),
        sent_by=record.actor,
        role=record.role,
        requested_at=record.requested_at,
        sent_at=record.sent_at,
        send_error=record.send_error,
        result_at=record.result_at,
    )


def _send(conn: Any, ingest: Any, device_id: str, name: str, args: dict[str, Any], user: User) -> CommandSent:
    """Audit row first (committed), then the publish, then the cmd_id on the audit row."""
    request_id = control.record_command_request(conn, device_id, name, args, user.username, user.role)
    conn.commit()
    try:
        cmd_id = ingest.send_command(device_id, name, args)
    except Exception as exc:
        control.record_command_failed(conn, request_id, f"{type(exc).__name__}: {exc}")
        conn.commit()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"command {name} not sent: {exc}") from None
    control.record_command_sent(conn, request_id, cmd_id)
    log.info("cmd %s %s -> %s by %s (%s)", cmd_id, name, device_id, user.username, user.role)
    return CommandSent(cmd_id=cmd_id, device_id=device_id, name=name, args=args, status="pending")


def _camera_schema(settings: Any) -> tuple[dict[str, Any], Any]:
    try:
        return load_camera_schema(settings.rules_dir)
    except SchemaMissing as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


def _check_config(settings: Any, config: dict[str, Any]) -> list[str]:
    """422 listing every schema problem of the cameras (nothing is stored then); the camera ids when all is well."""
    cameras = config.get("cameras") or []
    problems = validate_cameras(_camera_schema(settings)[1], cameras)
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [p.as_error() for p in problems])
    if len(json.dumps(config)) > MAX_CONFIG_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"configuration is limited to {MAX_CONFIG_BYTES} bytes")
    return [c["camera_id"] for c in cameras]


def _config_state(device_id: str, device: dict[str, Any], desired: DesiredConfig | None) -> ConfigState:
    applied = device.get("config_version")
    health = device.get("health") or {}
    return ConfigState(
        device_id=device_id,
        desired=_config_version(desired) if desired else None,
        applied_version=applied,
        config_error=health.get("config_error"),
        in_sync=desired is not None and applied == desired.version,
    )


def _config_version(desired: DesiredConfig) -> ConfigVersion:
    return ConfigVersion(
        version=desired.version,
        config=desired.config,
        set_by=desired.actor,
        role=desired.role,
        set_at=desired.created_at,
    )


def _publish(ingest: Any, desired: DesiredConfig) -> None:
    try:
        ingest.publish_config(desired.device_id, desired.config)
    except Exception as exc:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"configuration version {desired.version} is stored but was not published ({exc}); "
            f"retry with POST /api/v1/devices/{desired.device_id}/config/publish",
        ) from None


def _snapshot_public(record: SnapshotRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in ("device_id", "cmd_id", "camera_id", "sha256", "bytes", "stored_at")}


# ---- commands ---------------------------------------------------------------------------------------------------


@router.post("/devices/{device_id}/commands", operation_id="send_device_command", status_code=202)
def send_command_route(
    device_id: str, body: CommandCreate, request: Request, conn: ConnDep, user: Controller
) -> CommandSent:
    """Publish a command to the device; poll GET .../commands/{cmd_id} for its result."""
    ingest = _ingest(request)
    _device(conn, device_id)
    return _send(conn, ingest, device_id, body.name, body.args, user)


@router.get("/devices/{device_id}/commands", operation_id="list_device_commands")
def list_commands_route(
    device_id: str,
    conn: ConnDep,
    user: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Page[CommandPublic]:
    """The device's commands, newest first."""
    records, count = control.list_commands(conn, device_id, limit, offset)
    return Page[CommandPublic](data=[_command_public(r) for r in records], count=count)


@router.get("/devices/{device_id}/commands/{cmd_id}", operation_id="get_device_command")
def get_command_route(device_id: str, cmd_id: str, conn: ConnDep, user: Viewer) -> CommandPublic:
    record = control.get_command(conn, device_id, cmd_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no command {cmd_id!r} was sent to device {device_id!r}")
    return _command_public(record)


@router.post("/devices/{device_id}/model-update", operation_id="update_device_model", status_code=202)
def model_update_route(
    device_id: str, body: ModelUpdate, request: Request, conn: ConnDep, settings: SettingsDep, user: Controller
) -> CommandSent:
    """Send `model_update` {name, version, url, sha256, size, signature, key_id} for a registered model file: the
    release signed with the hub's model signing key. The device verifies the signature against the key it was
    provisioned with, downloads the file from this hub with its own credentials, verifies the sha256, loads it and
    only then swaps (and swaps back by itself if the new model stops detecting)."""
    ingest = _ingest(request)
    model = _model_file(conn, settings, body.sha256)
    problem = _cannot_take(_device(conn, device_id), model.name)
    if problem:
        raise HTTPException(status.HTTP_409_CONFLICT, problem)
    return _send(conn, ingest, device_id, "model_update", _release_args(settings, model), user)


class Rollout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devices: list[str] = Field(
        min_length=1, max_length=1000, description="the boxes to update now: a canary subset first, then the rest"
    )


class RolloutDevice(BaseModel):
    device_id: str
    sent: bool
    cmd_id: str | None = None
    detail: str | None = None  # why a device was skipped


class RolloutSent(BaseModel):
    sha256: str
    name: str
    version: str
    devices: list[RolloutDevice]


class RolloutState(BaseModel):
    sha256: str
    name: str
    version: str
    running: list[str]  # devices whose latest health names this file
    other: list[str]  # devices that run this detector from another file


@router.post("/models/{sha256}/rollout", operation_id="roll_out_model", status_code=202)
def rollout_route(
    sha256: str, body: Rollout, request: Request, conn: ConnDep, settings: SettingsDep, user: Controller
) -> RolloutSent:
    """A canary rollout: the signed `model_update` to the named boxes only (a few first, watched with GET, then the
    rest). Each device is answered on its own: one that runs another detector, or is unknown, is skipped with the
    reason and the others still get the update."""
    ingest = _ingest(request)
    model = _model_file(conn, settings, sha256)
    args = _release_args(settings, model)
    outcomes = []
    for device_id in dict.fromkeys(body.devices):  # once each, in the order given
        device = get_device(conn, device_id)
        problem = f"device {device_id!r} is not registered" if device is None else _cannot_take(device, model.name)
        if problem:
            outcomes.append(RolloutDevice(device_id=device_id, sent=False, detail=problem))
            continue
        try:
            sent = _send(conn, ingest, device_id, "model_update", args, user)
        except HTTPException as exc:
            outcomes.append(RolloutDevice(device_id=device_id, sent=False, detail=str(exc.detail)))
            continue
        outcomes.append(RolloutDevice(device_id=device_id, sent=True, cmd_id=sent.cmd_id))
    return RolloutSent(sha256=model.sha256, name=model.name, version=model.version, devices=outcomes)


@router.get("/models/{sha256}/rollout", operation_id="get_model_rollout")
def rollout_state_route(sha256: str, conn: ConnDep, settings: SettingsDep, user: Viewer) -> RolloutState:
    """Where the release stands: the boxes that report running this file, and those running the same detector
    from another file (not updated yet, refused it, or rolled it back)."""
    model = _model_file(conn, settings, sha256)
    running, other = control.model_holders(conn, model.name, model.sha256)
    return RolloutState(sha256=model.sha256, name=model.name, version=model.version, running=running, other=other)


def _model_file(conn: Any, settings: Any, sha256: str) -> Any:
    model = get_model(conn, sha256)
    if model is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model file with sha256 {sha256} is registered")
    if not ModelFileStore(models_dir(settings)).exists(model.sha256):
        raise HTTPException(status.HTTP_409_CONFLICT, f"model {model.name} {model.version}: file missing on this hub")
    return model


def _cannot_take(device: dict[str, Any], name: str) -> str | None:
    running = sorted({str(m.get("name")) for m in device.get("models") or [] if isinstance(m, dict)})
    if running and name not in running:
        return f"device {device['device_id']} runs {', '.join(running)}; a {name} model cannot replace any of them"
    return None


def _release_args(settings: Any, model: Any) -> dict[str, Any]:
    """The signed release a `model_update` carries (cityops.contract.model_release)."""
    signature, key = sign_release(load_signing_key(settings), model.name, model.version, model.sha256, model.bytes)
    return {
        "name": model.name,
        "version": model.version,
        "url": model_file_url(settings.hub_url, model.sha256),
        "sha256": model.sha256,
        "size": model.bytes,
        "signature": signature,
        "key_id": key,
    }


# ---- desired configuration --------------------------------------------------------------------------------------


@router.get("/devices/{device_id}/config", operation_id="get_device_config")
def get_config_route(device_id: str, conn: ConnDep, user: Viewer) -> ConfigState:
    device = _device(conn, device_id)
    return _config_state(device_id, device, control.current_desired_config(conn, device_id))


@router.put("/devices/{device_id}/config", operation_id="put_device_config")
def put_config_route(
    device_id: str, body: ConfigUpdate, request: Request, conn: ConnDep, settings: SettingsDep, user: Controller
) -> ConfigState:
    """Store the next version and publish it retained; the device applies it and reports the version in health
    (at once, and then every health interval). Cameras failing the camera-rules schema: 422, nothing stored."""
    ingest = _ingest(request)
    device = _device(conn, device_id)
    config = body.model_dump(mode="json", exclude={"version"}, exclude_none=True)
    _check_config(settings, config)
    with control.device_config_lock(conn, device_id):
        try:
            desired = control.store_desired_config(
                conn, device_id, config, body.version, device.get("config_version"), user.username, user.role
            )
        except ControlError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        conn.commit()  # stored before published: a device never runs a version the hub does not have
        _publish(ingest, desired)
    log.info("config version %d of %s set by %s (%s)", desired.version, device_id, user.username, user.role)
    return _config_state(device_id, device, desired)


@router.post("/devices/{device_id}/config/validate", operation_id="validate_device_config")
def validate_config_route(
    device_id: str, body: ConfigUpdate, conn: ConnDep, settings: SettingsDep, user: Controller
) -> ConfigValid:
    """The checks of PUT .../config without storing or publishing: 200 when valid, else 422 listing each problem
    (`loc`, `msg`, `type`, and `path`, e.g. `$.cameras[0].zones[1].polygon`)."""
    _device(conn, device_id)
    cameras = _check_config(settings, body.model_dump(mode="json", exclude={"version"}, exclude_none=True))
    return ConfigValid(
        device_id=device_id, valid=True, cameras=cameras, schema_id=str(_camera_schema(settings)[0].get("$id", ""))
    )


@router.get("/schemas/camera-rules", operation_id="get_camera_rules_schema")
def camera_rules_schema_route(settings: SettingsDep, user: Controller) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one camera of PUT /devices/{id}/config, for editors and validation."""
    return _camera_schema(settings)[0]


@router.post("/devices/{device_id}/config/publish", operation_id="republish_device_config")
def republish_config_route(device_id: str, request: Request, conn: ConnDep, user: Controller) -> ConfigState:
    """Publish the current desired configuration again (after a failed publish or a broker that lost it)."""
    ingest = _ingest(request)
    device = _device(conn, device_id)
    with control.device_config_lock(conn, device_id):
        desired = control.current_desired_config(conn, device_id)
        if desired is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} has no desired configuration yet")
        _publish(ingest, desired)
    return _config_state(device_id, device, desired)


@router.get("/devices/{device_id}/config/history", operation_id="device_config_history")
def config_history_route(
    device_id: str,
    conn: ConnDep,
    user: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Page[ConfigVersion]:
    """The device's desired configurations, newest version first."""
    records, count = control.config_history(conn, device_id, limit, offset)
    return Page[ConfigVersion](data=[_config_version(d) for d in records], count=count)


# ---- snapshots --------------------------------------------------------------------------------------------------


@router.put("/devices/{device_id}/snapshots/{cmd_id}", operation_id="put_device_snapshot", status_code=201)
def put_snapshot_route(
    device_id: str,
    cmd_id: str,
    response: Response,
    background: BackgroundTasks,
    device: DeviceIdentity,
    conn: ConnDep,
    pool: PoolDep,
    settings: SettingsDep,
    body: Annotated[bytes, Body(media_type="image/jpeg")],
    content_type: Annotated[str | None, Header()] = None,
    x_content_sha256: Annotated[str | None, Header()] = None,
    x_camera_id: Annotated[str | None, Header(pattern=ID_PATTERN)] = None,
) -> SnapshotStored:
    """The device's answer to a `snapshot` or `probe` command: 201 stored, 200 the same bytes again, 409 different
    bytes."""
    if device.device_id != device_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"device {device.device_id} may only upload its own snapshots")
    if (content_type or "").split(";")[0].strip().lower() != control.SNAPSHOT_CONTENT_TYPE:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be image/jpeg")
    if len(body) > MAX_SNAPSHOT_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"snapshots are limited to {MAX_SNAPSHOT_BYTES} bytes")
    store = open_evidence_store(settings)
    try:
        created, record = control.put_snapshot(conn, store, device_id, cmd_id, x_camera_id, body, x_content_sha256)
    except ControlError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    if created:
        old = control.prune_snapshots(conn, device_id, record.camera_id, settings.snapshot_keep)
        background.add_task(control.delete_unreferenced_snapshots, pool, store, old)  # after the commit
    else:
        response.status_code = status.HTTP_200_OK
    return SnapshotStored(**_snapshot_public(record), created=created)


@router.get("/devices/{device_id}/snapshots", operation_id="list_device_snapshots")
def list_snapshots_route(
    device_id: str,
    conn: ConnDep,
    user: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Page[SnapshotPublic]:
    """The device's stored snapshots (the newest few per camera are kept), newest first."""
    records, count = control.list_snapshots(conn, device_id, limit, offset)
    return Page[SnapshotPublic](data=[SnapshotPublic(**_snapshot_public(r)) for r in records], count=count)


def _jpeg(settings: Any, record: SnapshotRecord | None, what: str) -> Response:
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no snapshot {what}; send a `snapshot` command first")
    try:
        data = open_evidence_store(settings).get(record.sha256)
    except FileNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"snapshot {record.cmd_id} is missing from the store") from None
    headers = {
        "ETag": f'"{record.sha256}"',
        "Cache-Control": "private, max-age=60",
        "X-Snapshot-Cmd-Id": record.cmd_id,
        "X-Snapshot-Stored-At": record.stored_at.isoformat(),
    }
    if record.camera_id:
        headers["X-Camera-Id"] = record.camera_id
    return Response(content=data, media_type=record.content_type, headers=headers)


_JPEG = {200: {"content": {"image/jpeg": {}}}}


@router.get(
    "/devices/{device_id}/snapshots/latest",
    operation_id="latest_device_snapshot",
    response_class=Response,
    responses=_JPEG,
)
def latest_snapshot_route(
    device_id: str,
    conn: ConnDep,
    settings: SettingsDep,
    user: Viewer,
    camera_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Response:
    """The newest snapshot JPEG (of one camera with ?camera_id=): what a technician draws zones on."""
    record = control.latest_snapshot(conn, device_id, camera_id)
    what = f"of device {device_id!r}" + (f" camera {camera_id!r}" if camera_id else "")
    return _jpeg(settings, record, what)


@router.get(
    "/devices/{device_id}/snapshots/{cmd_id}",
    operation_id="get_device_snapshot",
    response_class=Response,
    responses=_JPEG,
)
def get_snapshot_route(device_id: str, cmd_id: str, conn: ConnDep, settings: SettingsDep, user: Viewer) -> Response:
    return _jpeg(settings, control.get_snapshot(conn, device_id, cmd_id), f"{cmd_id!r} of device {device_id!r}")
