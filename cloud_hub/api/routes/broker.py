"""The broker asks the hub who may connect and what they may do: EMQX 5's HTTP authentication and authorisation
(deploy/cloud/k8s/overlays/production-emqx). Mosquitto needs none of this: the hub writes the same identities and
ACLs into its dynamic security at provisioning (cloud_hub.broker.dynsec).

- POST /broker/authenticate {clientid, username, password} -> {result: allow|deny, is_superuser: false}
- POST /broker/authorize {clientid, username, topic, action} -> {result: allow|deny}

Identities: the hub itself (the user and password of CITYOPS_MQTT_URL) and every provisioned, not retired device
(username = client id = device id, password = device secret, checked against its argon2 hash). Authorisation uses
the ACL sets of cloud_hub.broker.acl, evaluated as Mosquitto evaluates them, so both brokers enforce one
definition. Every call carries X-CityOps-Broker-Secret = CITYOPS_BROKER_AUTH_SECRET; without it the answer is 401
(EMQX then treats the request as failed and, with no other source configured, denies). A refusal is a 200 with
`deny`: EMQX reads the decision from the body.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, status
from pydantic import BaseModel, Field

from cityops.contract.topics import is_valid_device_id
from cloud_hub.api.deps import ConnDep, SettingsDep
from cloud_hub.broker.acl import Acl, acl_allows, device_acls, hub_acls
from cloud_hub.core.config import HubSettings
from cloud_hub.devices.registry import device_access, verify_device_secret

SECRET_HEADER = "X-CityOps-Broker-Secret"


def _broker(settings: SettingsDep, secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None) -> None:
    expected = settings.broker_auth_secret
    if expected is None:
        detail = "broker HTTP auth is off: set CITYOPS_BROKER_AUTH_SECRET"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail)
    if secret is None or not hmac.compare_digest(secret.encode(), expected.get_secret_value().encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"missing or wrong {SECRET_HEADER}")


router = APIRouter(prefix="/api/v1/broker", tags=["broker"], dependencies=[Depends(_broker)])


class BrokerAuthenticate(BaseModel):
    clientid: str = Field(max_length=256)
    username: str = Field(max_length=256)
    password: str = Field(max_length=1024)


class BrokerAuthorize(BaseModel):
    clientid: str = Field(max_length=256)
    username: str = Field(max_length=256)
    topic: str = Field(max_length=65535)
    action: Literal["publish", "subscribe", "unsubscribe"]


class BrokerDecision(BaseModel):
    result: Literal["allow", "deny"]
    is_superuser: bool = False


ALLOW, DENY = BrokerDecision(result="allow"), BrokerDecision(result="deny")


def _is_hub(settings: HubSettings, username: str) -> bool:
    return bool(settings.mqtt.username) and hmac.compare_digest(username.encode(), str(settings.mqtt.username).encode())


@router.post("/authenticate", operation_id="broker_authenticate")
def authenticate(body: BrokerAuthenticate, settings: SettingsDep, conn: ConnDep) -> BrokerDecision:
    """Allow the hub's own identity (any client id: replicas and ingest workers pick theirs) and provisioned,
    not retired devices whose client id is their device id (as Mosquitto binds it)."""
    if _is_hub(settings, body.username):
        password = settings.mqtt.password or ""
        return ALLOW if password and hmac.compare_digest(body.password.encode(), password.encode()) else DENY
    if body.clientid != body.username or not is_valid_device_id(body.username):
        return DENY
    # A retired device's hash never verifies; the explicit check keeps that true whatever the registry stores.
    if not verify_device_secret(conn, body.username, body.password):
        return DENY
    access = device_access(conn, body.username)
    return ALLOW if access is not None and access.retired_at is None else DENY


def _acls(settings: HubSettings, conn: ConnDep, body: BrokerAuthorize) -> list[Acl]:
    if _is_hub(settings, body.username):
        return hub_acls(settings.share_group)
    if body.clientid != body.username or not is_valid_device_id(body.username):
        return []
    access = device_access(conn, body.username)
    return device_acls(body.username) if access is not None and access.retired_at is None else []


@router.post("/authorize", operation_id="broker_authorize")
def authorize(body: BrokerAuthorize, settings: SettingsDep, conn: ConnDep) -> BrokerDecision:
    """Allow what the identity's ACL set (cloud_hub.broker.acl) allows, deny everything else."""
    return ALLOW if acl_allows(_acls(settings, conn, body), body.action, body.topic) else DENY
