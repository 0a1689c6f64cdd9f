"""Devices: the fleet list and one device (admins, commanders, technicians: `cloud_hub.auth.scope`), provisioning
(admins, technicians) with the box's configuration file and QR code, and when and by whom a device was provisioned.

- GET /devices?kind=&online=&status=&q=&has_fault=&limit=&offset= -> Page[DevicePublic]
- GET /devices/{device_id} -> DevicePublic
- POST /devices -> DeviceProvisioned (secret, config_yaml and qr_payload shown once; 201 new, 200 re-provisioned)
- GET /devices/{device_id}/provisioning -> DeviceProvisioning (re-issues nothing)
- POST /devices/{device_id}/provisioning-tokens -> ProvisioningToken (one-time token and its `cityops:2:` QR)
- POST /provisioning/redeem -> DeviceProvisioned (public: the token is the credential; rotates the device secret)
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from cityops.contract.provisioning_qr import qr_payload, qr_payload_v2
from cloud_hub.api.deps import ConnDep, CurrentUser, Offset, SettingsDep, require_roles
from cloud_hub.api.schemas import Page
from cloud_hub.audit.store import record as audit_record
from cloud_hub.auth.scope import load_scope
from cloud_hub.auth.security import create_device_token
from cloud_hub.auth.users import User
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import (
    DeviceError,
    device_access,
    get_device,
    get_provisioning,
    list_devices,
    provision_device,
    retire_device,
)
from cloud_hub.devices.status import DeviceStatus, with_status
from cloud_hub.stack.edge_config import DEFAULT_CA_FILE, mqtt_url, provisioning_config, render_edge_yaml
from cloud_hub.store.provisioning_tokens import TokenRefused, create_token, redeem_token

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["devices"])
_admin_lock = threading.Lock()  # one broker admin connection per process, shared by request threads
DEVICE_ROLES = ("admin", "commander", "technician")


def _device_viewer(conn: ConnDep, user: CurrentUser) -> User:
    """The user, when their scope includes devices (officers' does not)."""
    if not load_scope(conn, user).sees_device():
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {user.role!r} may not see devices; allowed: {', '.join(DEVICE_ROLES)}"
        )
    return user


DeviceViewer = Annotated[User, Depends(_device_viewer)]
Provisioner = Annotated[User, Depends(require_roles("admin", "technician"))]


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{3,64}$", description="3-64 chars of [A-Za-z0-9_.-]")
    kind: Literal["edge", "sensor"]
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)


class DeviceProvisioned(BaseModel):
    device_id: str
    kind: str
    mqtt_host: str = Field(description="the broker as devices reach it (CITYOPS_PUBLIC_MQTT_HOST)")
    mqtt_port: int = Field(description="the broker's port for devices (CITYOPS_PUBLIC_MQTT_PORT)")
    mqtt_tls: bool = Field(
        description="devices connect to mqtt_host:mqtt_port with TLS, i.e. mqtts:// (CITYOPS_PUBLIC_MQTT_TLS)"
    )
    mqtt_ca_pem: str | None = Field(
        None,
        description="CA certificate (PEM) the device must trust for the broker, when the operator runs a private CA "
        "(CITYOPS_PUBLIC_MQTT_CA_FILE); None: the device's system CAs",
    )
    username: str
    password: str  # shown once; only its hash is stored
    hub_url: str
    device_token: str  # bearer token for evidence uploads, an alternative to HTTP Basic with the password
    broker_provisioned: bool  # False when the broker has no dynamic security: no broker account was made
    config_yaml: str = Field(
        description="the box's whole edge agent configuration file (it carries the secret: keep it 0600); its "
        "`cameras` list is empty, to be filled in before the agent starts"
    )
    qr_payload: str = Field(
        description="`cityops:1:` + base64url (no padding) of compact JSON {d: device_id, h: hub_url, m: MQTT URL "
        "without password, s: secret}, for a QR code the box's setup tool scans"
    )


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_s: int | None = Field(
        None, ge=60, le=7 * 86400, description="lifetime in seconds; default CITYOPS_PROVISIONING_TOKEN_TTL_S (30 min)"
    )


class ProvisioningToken(BaseModel):
    device_id: str
    token: str = Field(description="one-time, shown once; only its sha256 is stored")
    expires_at: datetime
    hub_url: str
    qr_payload: str = Field(
        description="`cityops:2:` + base64url (no padding) of compact JSON {h: hub_url, t: token}: no secret"
    )
    command: str = Field(description="what to run on the box instead of scanning the QR code")


class TokenRedeem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


class DeviceProvisioning(BaseModel):
    """When and by whom a device was provisioned, and where it connects; never a secret."""

    device_id: str
    kind: str
    created_at: datetime
    provisioned_at: datetime = Field(description="the latest provisioning (a new secret each time)")
    provisioned_by: str | None = Field(description="who provisioned it last; None before this was recorded")
    provision_count: int = Field(description="how many times it was provisioned (1: never re-provisioned)")
    hub_url: str
    mqtt_url: str = Field(description="broker URL the device uses, with its user and without the password")


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
    faults: list[str] = Field(
        description="what a technician should look at: cameras not ok, a refused configuration, faces sent unblurred"
    )
    retired_at: datetime | None = Field(None, description="set when the device was retired (credentials refused)")
    clock_offset_s: float | None = Field(
        None, description="the box's clock minus the hub's at its latest health snapshot (positive: ahead)"
    )
    clock_offset_at: datetime | None = None
    clock_skewed: bool = Field(False, description="the clock is off by more than a minute (also listed in faults)")


class DeviceRetired(BaseModel):
    device_id: str
    retired_at: datetime
    retired_by: str
    broker_account_removed: bool  # False when the broker has no dynamic security (nothing to remove there)


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


def _device_mqtt_url(settings: HubSettings, device_id: str) -> str:
    host, port = _public_mqtt(settings)
    return mqtt_url(device_id, None, host, port, settings.device_mqtt_tls)


@router.get("/devices", operation_id="list_devices")
def list_devices_route(
    conn: ConnDep,
    user: DeviceViewer,
    kind: Literal["edge", "sensor"] | None = None,
    online: bool | None = None,
    status_: Annotated[
        DeviceStatus | None, Query(alias="status", description="never_seen, online, stale or offline")
    ] = None,
    q: Annotated[str | None, Query(max_length=64, description="part of the device id (any case)")] = None,
    has_fault: Annotated[bool | None, Query(description="true: devices with faults; false: without")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[DevicePublic]:
    now = datetime.now(UTC)
    rows, count = list_devices(
        conn, kind=kind, online=online, q=q, status=status_, has_fault=has_fault, now=now, limit=limit, offset=offset
    )
    return Page[DevicePublic](data=[DevicePublic.model_validate(with_status(r, now)) for r in rows], count=count)


@router.get("/devices/{device_id}", operation_id="get_device")
def get_device_route(device_id: str, conn: ConnDep, user: DeviceViewer) -> DevicePublic:
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
    user: Provisioner,
) -> DeviceProvisioned:
    """Register a device (or re-provision it with a new secret; its seq cursor is kept) and create its broker
    account and ACL. 201 for a new device, 200 for a re-provisioned one. The answer carries the secret, the box's
    configuration file and its QR code: shown this once, never stored."""
    from cloud_hub.broker.dynsec import BrokerAdminError

    existed = get_device(conn, body.device_id) is not None
    with _admin_lock:
        admin = _broker_admin(request, settings)
        try:
            secret = provision_device(conn, admin, body.device_id, body.kind, body.lon, body.lat, user.username)
        except DeviceError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        except BrokerAdminError as exc:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"the broker refused the device account: {exc}") from None
    log.info("device %s provisioned by %s (broker account: %s)", body.device_id, user.username, admin.available())
    if existed:
        response.status_code = status.HTTP_200_OK
    return _provisioned(conn, settings, admin.available(), body.device_id, body.kind, secret, user.username)


def _trusted_keys(settings: HubSettings) -> list[str]:
    """The hub's model signing public key: every provisioned box trusts the hub's signed model updates."""
    from cityops.contract.model_release import public_key_text
    from cloud_hub.models_registry.signing import load_signing_key

    return [public_key_text(load_signing_key(settings).public_key())]


def _provisioned(
    conn: ConnDep, settings: HubSettings, broker: bool, device_id: str, kind: str, secret: str, actor: str
) -> DeviceProvisioned:
    """The one-time answer of a (re-)provisioning: credentials, the whole config file and the v1 QR code."""
    host, port = _public_mqtt(settings)
    answer = {
        "device_id": device_id,
        "kind": kind,
        "mqtt_host": host,
        "mqtt_port": port,
        "mqtt_tls": settings.device_mqtt_tls,
        "mqtt_ca_pem": settings.device_mqtt_ca_pem(),
        "username": device_id,
        "password": secret,
        "hub_url": settings.hub_url,
    }
    header = (
        f"CityOps edge agent configuration of {device_id}, provisioned {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        f" by {actor}.\nKeep this file private (chmod 600): mqtt_url carries the device secret."
    )
    if answer["mqtt_ca_pem"]:
        header += f"\nSave the answer's mqtt_ca_pem (the broker's CA certificate) as {DEFAULT_CA_FILE}."
    config = provisioning_config(credentials=answer, trusted_keys=_trusted_keys(settings))
    return DeviceProvisioned(
        **answer,
        device_token=create_device_token(settings, device_id, generation=_generation(conn, device_id)),
        broker_provisioned=broker,
        config_yaml=render_edge_yaml(config, header),
        qr_payload=qr_payload(device_id, settings.hub_url, _device_mqtt_url(settings, device_id), secret),
    )


@router.post(
    "/devices/{device_id}/provisioning-tokens",
    operation_id="create_provisioning_token",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "not provisioned"}, 409: {"description": "retired"}},
)
def create_provisioning_token_route(
    device_id: str, body: TokenCreate, conn: ConnDep, settings: SettingsDep, user: Provisioner
) -> ProvisioningToken:
    """A one-time token with which the box fetches its configuration itself (`cityops edge provision --hub URL
    --token TOKEN`, or the QR code); redeeming it issues a new device secret. Shown once; single use."""
    access = device_access(conn, device_id)
    if access is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} is not provisioned")
    if access.retired_at is not None:
        detail = f"device {device_id!r} is retired; POST /devices provisions it again before a token can be made"
        raise HTTPException(status.HTTP_409_CONFLICT, detail)
    issued = create_token(conn, device_id, user.username, body.ttl_s or settings.provisioning_token_ttl_s)
    detail = {"expires_at": issued.expires_at.isoformat()}
    audit_record(conn, "devices", "provisioning_token_create", actor=user.username, role=user.role,
                 entity="device", entity_id=device_id, detail=detail)  # fmt: skip
    log.info("provisioning token for %s created by %s", device_id, user.username)
    return ProvisioningToken(
        device_id=device_id,
        token=issued.token,
        expires_at=issued.expires_at,
        hub_url=settings.hub_url,
        qr_payload=qr_payload_v2(settings.hub_url, issued.token),
        command=f"cityops edge provision --hub {settings.hub_url} --token {issued.token}",
    )


@router.post(
    "/provisioning/redeem",
    operation_id="redeem_provisioning_token",
    responses={
        404: {"description": "unknown token"},
        409: {"description": "device retired"},
        410: {"description": "token already used or expired"},
    },
)
def redeem_provisioning_token_route(
    body: TokenRedeem, conn: ConnDep, settings: SettingsDep, request: Request
) -> DeviceProvisioned:
    """The box's side (no login: the token is the credential): its whole configuration, with a new device secret;
    the broker account and device tokens follow at once, as on re-provisioning. A used or expired token is 410."""
    from cloud_hub.broker.dynsec import BrokerAdminError

    try:
        device_id, creator = redeem_token(conn, body.token)
    except TokenRefused as exc:
        code = status.HTTP_404_NOT_FOUND if exc.reason == "unknown" else status.HTTP_410_GONE
        raise HTTPException(code, str(exc)) from None
    row = get_device(conn, device_id)
    access = device_access(conn, device_id)
    if row is None or access is None or access.retired_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {device_id!r} was retired after the token was made")
    with _admin_lock:
        admin = _broker_admin(request, settings)
        try:
            secret = provision_device(conn, admin, device_id, str(row["kind"]), None, None, creator)
        except BrokerAdminError as exc:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"the broker refused the device account: {exc}") from None
    audit_record(conn, "devices", "provisioning_token_redeem", actor=device_id, role="device",
                 entity="device", entity_id=device_id, detail={"token_created_by": creator})  # fmt: skip
    log.info("device %s redeemed a provisioning token of %s", device_id, creator)
    return _provisioned(conn, settings, admin.available(), device_id, str(row["kind"]), secret, creator)


@router.get("/devices/{device_id}/provisioning", operation_id="get_device_provisioning")
def get_provisioning_route(
    device_id: str, conn: ConnDep, settings: SettingsDep, user: Provisioner
) -> DeviceProvisioning:
    """When and by whom the device was provisioned; re-issues nothing (POST /devices again for a new secret)."""
    row = get_provisioning(conn, device_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} is not provisioned")
    return DeviceProvisioning(**row, hub_url=settings.hub_url, mqtt_url=_device_mqtt_url(settings, device_id))


def _generation(conn: ConnDep, device_id: str) -> int:
    access = device_access(conn, device_id)
    assert access is not None  # just provisioned in this transaction
    return access.generation


@router.post(
    "/devices/{device_id}/retire",
    operation_id="retire_device",
    responses={404: {"description": "not provisioned"}, 409: {"description": "already retired"}},
)
def retire_device_route(
    device_id: str, conn: ConnDep, settings: SettingsDep, request: Request, user: Provisioner
) -> DeviceRetired:
    """Retire a stolen or scrapped box: its secret and device tokens are refused from now on and its broker account
    is deleted, which disconnects it. Its data stays. POST /devices with the same id provisions it again."""
    from cloud_hub.broker.dynsec import BrokerAdminError

    with _admin_lock:
        admin = _broker_admin(request, settings)
        try:
            retired_at = retire_device(conn, admin, device_id, user.username)
        except DeviceError as exc:
            code = status.HTTP_404_NOT_FOUND if "not provisioned" in str(exc) else status.HTTP_409_CONFLICT
            raise HTTPException(code, str(exc)) from None
        except BrokerAdminError as exc:
            detail = f"the broker refused to remove the account: {exc}"
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail) from None
    log.warning("device %s retired by %s", device_id, user.username)
    return DeviceRetired(
        device_id=device_id, retired_at=retired_at, retired_by=user.username, broker_account_removed=admin.available()
    )
