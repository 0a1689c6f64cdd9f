"""The agent's MQTT connection (the only module that imports paho).

MQTT 5, client_id = username = device_id, Last Will `{"online": false}` retained on `state`, retained
`{"online": true, ...}` on every connect, subscriptions to the device's own ack/cmd/config, automatic reconnect
with backoff, bounded in-flight window and queue. `mqtts://` connects with TLS, verifying the broker's certificate
and host name against `ca_file` (a private CA) or the system's CAs.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityops.contract.messages import StateMessage, dump, utc_now
from cityops.contract.topics import HUB_TO_DEVICE, Topic, device_topic, parse_topic
from edge_agent.config import MqttUrl

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 3600  # commands sent during a short outage are still delivered after reconnecting


class MqttLink:
    def __init__(
        self,
        device_id: str,
        url: MqttUrl,
        *,
        agent_version: str,
        on_message: Callable[[Topic, bytes], None],
        on_connected: Callable[[], None] = lambda: None,
        keepalive_s: int = 30,
        max_inflight: int = 20,
        max_queued: int = 1000,
        ca_file: Path | None = None,
    ) -> None:
        self.device_id = device_id
        self.url = url
        self.agent_version = agent_version
        self._on_message = on_message
        self._on_connected = on_connected
        self.keepalive_s = keepalive_s
        self._connected = threading.Event()
        self._answered = False  # a CONNACK came on the current connection (refused or not)
        self._stopping = False
        self.last_error = ""
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=device_id,
            protocol=mqtt.MQTTv5,
        )
        if url.username is not None:
            client.username_pw_set(url.username, url.password)
        if url.tls:
            client.tls_set_context(tls_context(ca_file))
        elif ca_file is not None:
            raise ValueError(f"a CA file ({ca_file}) is set but the MQTT URL is not mqtts://: use mqtts:// for TLS")
        client.will_set(self._topic(Topic.STATE), json.dumps({"online": False}), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(max_queued)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_connect_fail = self._handle_connect_fail
        client.on_message = self._handle_message
        self._client = client

    def _topic(self, suffix: Topic) -> str:
        return device_topic(self.device_id, suffix)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            self.url.host, self.url.port, keepalive=self.keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Say goodbye (retained offline state: a clean exit sends no Last Will), then disconnect."""
        self._stopping = True
        if self._connected.is_set():
            info = self._client.publish(
                self._topic(Topic.STATE), dump(StateMessage(online=False, ts=utc_now())), qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError) as exc:
                log.debug("offline state not confirmed: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def is_connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def publish(self, suffix: Topic, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        if not self._connected.is_set():
            return False
        info = self._client.publish(self._topic(suffix), payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish to %s refused by the client: %s", suffix.value, mqtt.error_string(info.rc))
            return False
        return True

    # -- paho callbacks (network thread) ------------------------------------------------------------------

    def _handle_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason, _props) -> None:
        self._answered = True
        if reason.is_failure:
            self.last_error = f"connect refused: {reason}"
            log.error("MQTT %s:%d %s", self.url.host, self.url.port, self.last_error)
            return
        log.info("MQTT connected to %s:%d as %s", self.url.host, self.url.port, self.device_id)
        self.last_error = ""
        state = StateMessage(online=True, ts=utc_now(), agent_version=self.agent_version)
        client.publish(self._topic(Topic.STATE), dump(state), qos=1, retain=True)
        client.subscribe([(self._topic(suffix), 1) for suffix in HUB_TO_DEVICE])
        self._connected.set()
        try:
            self._on_connected()
        except Exception:  # a failing listener must not kill paho's network thread
            log.exception("on_connected handler failed")

    def _handle_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object, reason, _props) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("MQTT disconnected: %s; reconnecting with backoff", reason)
        if not self._answered and not self._stopping:
            # A plain client on a TLS port gets here: the broker drops the connection at the first bytes.
            hint = "" if self.url.tls else "; if that port speaks TLS, use mqtts://"
            self._set_error(f"the broker closed the connection before answering CONNECT ({reason}){hint}")
        elif self._connected.is_set() or self._stopping:
            self.last_error = f"disconnected: {reason}"
        self._answered = False
        self._connected.clear()

    def _handle_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        # paho calls this inside its `except OSError` around the connect, so the exception is the active one.
        exc = sys.exc_info()[1]
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = f"the broker's TLS certificate is not trusted: {exc.verify_message} (check mqtt_ca_file)"
        else:
            detail = str(exc) if exc else "connection failed"
        self._set_error(f"cannot connect: {detail}")

    def _set_error(self, message: str) -> None:
        """Record why the link is down; log it once, not at every reconnect attempt."""
        if message != self.last_error:
            log.error("MQTT %s:%d %s", self.url.host, self.url.port, message)
        self.last_error = message

    def _handle_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        parsed = parse_topic(msg.topic)
        if parsed is None or parsed[0] != self.device_id or parsed[1] not in HUB_TO_DEVICE:
            log.warning("ignoring message on unexpected topic %s", msg.topic)
            return
        try:
            self._on_message(parsed[1], msg.payload)
        except Exception:
            log.exception("handling %s failed", msg.topic)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificate and host name verified; `ca_file` alone is trusted when given, else the system's CAs."""
    if ca_file is not None and not ca_file.is_file():
        raise ValueError(f"MQTT CA file {ca_file} does not exist; mqtt_ca_file must name the broker's CA (PEM)")
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except ssl.SSLError as exc:
        raise ValueError(f"MQTT CA file {ca_file} holds no usable PEM certificate: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
