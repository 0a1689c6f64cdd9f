"""GET /api/v1/devices, GET /api/v1/devices/{device_id}, POST /api/v1/devices (provisioning)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from cloud_hub.api.deps import ConnDep, CurrentUser, SettingsDep, require_roles
from cloud_hub.api.schemas import Page
from cloud_hub.auth.security import create_device_token
from cloud_hub.auth.users import User
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import DeviceError, get_device, list_devices, provision_device
from cloud_hub.devices.status import DeviceStatus, with_status

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["devices"])
_admin_lock = threading.Lock()  # one broker admin connection per process, shared by request threads


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{3,64}$", description="3-64 chars of [A-Za-z0-9_.-]")
    kind: Literal["edge", "sensor"]
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)


class DeviceProvisioned(BaseModel):
    device_id: str
    kind: str
    mqtt_host: str
    mqtt_port: int
    mqtt_tls: bool
    username: str
    password: str  # shown once; only its hash is stored
    hub_url: str
    device_token: str  # bearer token for evidence uploads, an alternative to HTTP Basic with the password
    broker_provisioned: bool  # False when the broker has no dynamic security: no broker account was made


class DevicePublic(BaseModel):
    device_id: str
    kind: str
    lon: float | None
    lat: float | None
    created_at: datetime
    provisioned_at: datetime
    online: bool
    last_seen: datetime | None
    state_ts: datetime | None
    agent_version: str | None
    config_version: int | None
    models: list[dict[str, Any]] | None
    health: dict[str, Any] | None
    acked_seq: int
    status: DeviceStatus  # never_seen | online | stale (no health for 3 x its interval) | offline
    health_at: datetime | None
    health_interval_s: float


def _broker_admin(request: Request, settings: HubSettings) -> Any:
    """The process's broker admin, connected on first use; a broker without dynamic security is retried later."""
    admin = getattr(request.app.state, "broker_admin", None)
    if admin is None or not admin.available():
        from cloud_hub.broker.dynsec import connect_broker_admin

        admin = connect_broker_admin(settings.mqtt)
        if admin.available():
            request.app.state.broker_admin = admin
    return admin


def _public_mqtt(settings: HubSettings) -> tuple[str, int]:
    """Where devices reach the broker: CITYOPS_PUBLIC_MQTT_HOST/PORT when set (the hub may use an internal one)."""
    host = settings.public_mqtt_host or settings.mqtt.host
    port = settings.public_mqtt_port or settings.mqtt.port
    return str(host), int(port)


@router.get("/devices", operation_id="list_devices")
def list_devices_route(
    conn: ConnDep,
    user: CurrentUser,
    kind: Literal["edge", "sensor"] | None = None,
    online: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[DevicePublic]:
    rows, count = list_devices(conn, kind=kind, online=online, limit=limit, offset=offset)
    now = datetime.now(UTC)
    return Page[DevicePublic](data=[DevicePublic.model_validate(with_status(r, now)) for r in rows], count=count)


@router.get("/devices/{device_id}", operation_id="get_device")
def get_device_route(device_id: str, conn: ConnDep, user: CurrentUser) -> DevicePublic:
    row = get_device(conn, device_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} is not provisioned")
    return DevicePublic.model_validate(with_status(row, datetime.now(UTC)))


@router.post("/devices", operation_id="provision_device", status_code=status.HTTP_201_CREATED)
def provision_device_route(
    body: DeviceCreate,
    conn: ConnDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    user: Annotated[User, Depends(require_roles("admin", "technician"))],
) -> DeviceProvisioned:
    """Register a device (or re-provision it with a new secret; its seq cursor is kept) and create its broker
    account and ACL. 201 for a new device, 200 for a re-provisioned one."""
    from cloud_hub.broker.dynsec import BrokerAdminError

    existed = get_device(conn, body.device_id) is not None
    with _admin_lock:
        admin = _broker_admin(request, settings)
        try:
            secret = provision_device(conn, admin, body.device_id, body.kind, body.lon, body.lat)
        except DeviceError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        except BrokerAdminError as exc:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"the broker refused the device account: {exc}") from None
    log.info("device %s provisioned by %s (broker account: %s)", body.device_id, user.username, admin.available())
    if existed:
        response.status_code = status.HTTP_200_OK
    host, port = _public_mqtt(settings)
    return DeviceProvisioned(
        device_id=body.device_id,
        kind=body.kind,
        mqtt_host=host,
        mqtt_port=port,
        mqtt_tls=settings.mqtt.tls,
        username=body.device_id,
        password=secret,
        hub_url=settings.hub_url,
        device_token=create_device_token(settings, body.device_id),
        broker_provisioned=admin.available(),
    )
