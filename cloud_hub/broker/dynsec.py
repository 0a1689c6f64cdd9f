"""Mosquitto dynamic-security administration over MQTT (`$CONTROL/dynamic-security/v1`).

The hub provisions device identities through `connect_broker_admin(settings.mqtt)`; the local stack uses
`DynsecAdmin.connect` with the broker admin's credentials to create the hub identity. This is the only module of
cloud_hub/stack and cloud_hub/broker that imports paho.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud_hub.broker.acl import HUB_ROLE, default_acl_access_command, device_acls, device_role_name, hub_acls
from cloud_hub.core.config import MqttEndpoint

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"

logger = logging.getLogger(__name__)


@runtime_checkable
class BrokerAdmin(Protocol):
    def available(self) -> bool: ...

    def provision_device(self, device_id: str, password: str) -> None:
        """Idempotent create-or-update of client `device_id` (client id = username) with this password and the
        role `device:{device_id}` (publish under its own prefix, hear only its own ack, cmd and config)."""
        ...

    def remove_device(self, device_id: str) -> None: ...


class BrokerAdminError(RuntimeError):
    pass


class DynsecCommandError(BrokerAdminError):
    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"dynamic-security command {command!r} failed: {error}")
        self.command = command
        self.error = error


class DynsecTimeout(BrokerAdminError):
    pass


@dataclass(slots=True)
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    response: dict[str, Any] | None = None


class DynsecAdmin:
    """A connected dynamic-security client; thread-safe (the hub's HTTP workers share one)."""

    def __init__(self, endpoint: MqttEndpoint, timeout_s: float = 5.0) -> None:
        if not endpoint.username:
            raise BrokerAdminError(f"{endpoint!r}: broker administration needs a username and password")
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._ready = threading.Event()
        self._failure: str | None = None
        # Random client id: several hub replicas administer with the same identity at once.
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"cityops-dynsec-{uuid.uuid4().hex[:12]}", protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            self._client.tls_set()
        self._client.connect_timeout = timeout_s
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    @classmethod
    def connect(cls, endpoint: MqttEndpoint, timeout_s: float = 5.0) -> DynsecAdmin:
        """Connect and subscribe to the response topic; raises BrokerAdminError with the broker's reason."""
        admin = cls(endpoint, timeout_s)
        admin._open()
        return admin

    def _open(self) -> None:
        where = f"{self._endpoint.host}:{self._endpoint.port}"
        try:
            self._client.connect(self._endpoint.host, self._endpoint.port, keepalive=30)
        except OSError as exc:
            raise BrokerAdminError(f"cannot reach the MQTT broker at {where}: {exc}") from exc
        self._client.loop_start()
        if not self._ready.wait(self._timeout_s) or self._failure:
            self.close()
            reason = self._failure or f"no CONNACK/SUBACK within {self._timeout_s:.0f} s"
            raise BrokerAdminError(f"broker at {where} as {self._endpoint.username!r}: {reason}")

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._failure = f"connection refused: {reason}"
            self._ready.set()
            return
        # Subscribed on every (re)connect: a clean session forgets the subscription.
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[Any], _props: Any) -> None:
        if any(r.is_failure for r in reasons):
            self._failure = f"may not subscribe to {RESPONSE_TOPIC} ({reasons[0]}): the identity lacks dynsec ACLs"
        self._ready.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed dynamic-security response: %r", message.payload[:200])
            return
        with self._lock:
            for response in responses:
                pending = self._pending.pop(str(response.get("correlationData")), None)
                if pending is not None:
                    pending.response = response
                    pending.done.set()

    def execute(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send commands in one message (the plugin runs them in order); return their responses in order."""
        tagged = []
        waiting = []
        with self._lock:
            for command in commands:
                correlation = uuid.uuid4().hex
                self._pending[correlation] = pending = _Pending()
                tagged.append({**command, "correlationData": correlation})
                waiting.append((correlation, pending))
        info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
        deadline = time.monotonic() + self._timeout_s
        results = []
        for _correlation, pending in waiting:
            if not pending.done.wait(max(0.0, deadline - time.monotonic())):
                with self._lock:
                    for leftover, _ in waiting:
                        self._pending.pop(leftover, None)
                names = ", ".join(c["command"] for c in commands)
                raise DynsecTimeout(
                    f"no answer to {names} on {CONTROL_TOPIC} within {self._timeout_s:.0f} s (publish rc={info.rc}): "
                    "the broker has no dynamic-security plugin, or this identity may not publish there"
                )
            assert pending.response is not None
            results.append(pending.response)
        return results

    def _run(self, commands: Sequence[dict[str, Any]], tolerated: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        responses = self.execute(commands)
        for response in responses:
            error = response.get("error")
            if error and error not in tolerated:
                raise DynsecCommandError(str(response.get("command")), str(error))
        return responses

    def ensure_role(self, rolename: str, acls: list[dict[str, Any]]) -> None:
        """Create the role, or replace the ACLs of an existing one (create + modify in one round trip)."""
        self._run(
            [
                {"command": "createRole", "rolename": rolename, "acls": acls},
                {"command": "modifyRole", "rolename": rolename, "acls": acls},
            ],
            tolerated=frozenset({"Role already exists"}),
        )

    def ensure_client(self, username: str, password: str, roles: Sequence[str], clientid: str | None = None) -> None:
        """Create the client, or set password, roles (and client id) of an existing one. The broker disconnects
        connected sessions of a modified client, so a re-issued secret takes effect at once."""
        spec: dict[str, Any] = {"username": username, "password": password, "roles": [{"rolename": r} for r in roles]}
        if clientid is not None:
            spec["clientid"] = clientid
        self._run(
            [{"command": "createClient", **spec}, {"command": "modifyClient", **spec}],
            tolerated=frozenset({"Client already exists"}),
        )

    def get_client(self, username: str) -> dict[str, Any] | None:
        response = self._run([{"command": "getClient", "username": username}], frozenset({"Client not found"}))[0]
        return None if response.get("error") else dict(response["data"]["client"])

    def set_default_deny(self) -> None:
        """Anything not granted by a role is denied: publish, receive, subscribe and unsubscribe."""
        self._run([default_acl_access_command()])

    def ensure_hub_identity(self, username: str, password: str, share_group: str = "hub") -> None:
        self.ensure_role(HUB_ROLE, hub_acls(share_group))
        self.ensure_client(username, password, [HUB_ROLE])

    # BrokerAdmin
    def available(self) -> bool:
        return True

    def provision_device(self, device_id: str, password: str) -> None:
        role = device_role_name(device_id)
        self.ensure_role(role, device_acls(device_id))
        self.ensure_client(device_id, password, [role], clientid=device_id)
        logger.info("broker identity of device %s provisioned", device_id)

    def remove_device(self, device_id: str) -> None:
        self._run(
            [
                {"command": "deleteClient", "username": device_id},
                {"command": "deleteRole", "rolename": device_role_name(device_id)},
            ],
            tolerated=frozenset({"Client not found", "Role not found"}),
        )
        logger.info("broker identity of device %s removed", device_id)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> DynsecAdmin:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class NoBrokerAdmin:
    """Stands in when the broker cannot be administered: provisioning still works in the hub's database, but the
    device gets no broker credentials (logged, so the reason is visible)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        logger.warning("broker administration unavailable (%s): devices will not get broker credentials", reason)

    def available(self) -> bool:
        return False

    def provision_device(self, device_id: str, password: str) -> None:
        logger.info("device %s not provisioned in the broker: %s", device_id, self.reason)

    def remove_device(self, device_id: str) -> None:
        logger.info("device %s not removed from the broker: %s", device_id, self.reason)

    def close(self) -> None:
        return None


def connect_broker_admin(endpoint: MqttEndpoint, timeout_s: float = 5.0) -> BrokerAdmin:
    """A working DynsecAdmin, or a NoBrokerAdmin saying why not (unreachable, refused, or no plugin)."""
    try:
        admin = DynsecAdmin.connect(endpoint, timeout_s)
    except BrokerAdminError as exc:
        return NoBrokerAdmin(str(exc))
    try:
        admin.execute([{"command": "getDefaultACLAccess"}])  # probe: only the plugin answers
    except BrokerAdminError as exc:
        admin.close()
        return NoBrokerAdmin(str(exc))
    return admin
