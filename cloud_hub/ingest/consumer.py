"""The ingest side of the broker connection: the only module of cloud_hub.ingest that imports paho.

MQTT 5, persistent session (clean_start False + session expiry): while the hub is briefly down, the broker
queues QoS 1 messages for it. Messages are PUBACKed manually, only after the writer committed them, so a hub
that dies between receipt and commit gets them again. The client's Receive Maximum bounds how many unacked
messages the broker sends at once; on_message only enqueues (into the queue of the writer that owns the device,
`inbound.partition_of`), and blocks when that queue is full, which stops the network loop and pushes back through
TCP to the broker instead of dropping anything.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from cityops.contract.messages import utc_now
from cityops.contract.topics import DEVICE_TO_HUB, shared_subscription
from cloud_hub.core.config import MqttEndpoint
from cloud_hub.ingest import metrics
from cloud_hub.ingest.inbound import InboundMessage, partition_of

log = logging.getLogger(__name__)

MAX_RECEIVE_MAXIMUM = 65535  # MQTT 5 upper bound of the property


class MqttConsumer:
    """Subscribes with shared subscriptions, feeds `inboxes` (one per writer, by device), PUBACKs after commit,
    publishes acks and commands."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        inboxes: Sequence[queue.Queue[InboundMessage]],
        *,
        share_group: str = "hub",
        session_expiry_s: int = 24 * 3600,
        receive_maximum: int = 1000,
        keepalive_s: int = 30,
    ) -> None:
        self.endpoint = endpoint
        if not inboxes:
            raise ValueError("MqttConsumer needs at least one inbox")
        self.inboxes = tuple(inboxes)
        self.share_group = share_group
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = max(1, min(receive_maximum, MAX_RECEIVE_MAXIMUM))
        self.keepalive_s = keepalive_s
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._intake_closed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if endpoint.username:
            self._client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.max_inflight_messages_set(1000)  # our outgoing QoS 1 acks/commands in flight
        self._client.max_queued_messages_set(100_000)  # bounded: acks are re-sent later anyway
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (reconnecting forever); returns at once even if the broker is down."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        self._client.connect_async(
            self.endpoint.host, self.endpoint.port, keepalive=self.keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()

    def close_intake(self) -> None:
        """Stop handing messages to the writer; later ones stay unacked, so the broker keeps them for us."""
        self._intake_closed.set()

    def stop(self) -> None:
        """Disconnect normally (the session and its queued messages persist for `session_expiry_s`)."""
        self._intake_closed.set()
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        metrics.MQTT_CONNECTED.set(0)

    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_subscribed(self, timeout_s: float) -> bool:
        return self._subscribed.wait(timeout_s)

    # ---- BrokerLink ------------------------------------------------------------------------------------------

    def ack(self, message: InboundMessage) -> None:
        if message.qos == 0 or message.generation != self._generation:
            return  # QoS 0 needs none; a packet id of an earlier connection would ack someone else's message
        self._client.ack(message.mid, message.qos)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            # NO_CONN: queued by paho and sent after the reconnect. Anything else is a real failure.
            log.warning("publish to %s failed: %s", topic, mqtt.error_string(info.rc))

    # ---- paho callbacks (network thread) ---------------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker %s:%s refused the hub: %s", self.endpoint.host, self.endpoint.port, reason)
            return
        self._generation += 1
        self._connected.set()
        metrics.MQTT_CONNECTED.set(1)
        log.info("ingest connected to %s:%s (session present: %s)", self.endpoint.host, self.endpoint.port,
                 flags.session_present)  # fmt: skip
        options = SubscribeOptions(qos=1)
        topics = [(shared_subscription(suffix, self.share_group), options) for suffix in DEVICE_TO_HUB]
        client.subscribe(topics)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode], properties: Properties
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("broker refused ingest subscriptions: %s (check the hub's ACL role)", ", ".join(refused))
        else:
            self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        self._subscribed.clear()
        metrics.MQTT_CONNECTED.set(0)
        if not self._intake_closed.is_set():
            log.warning("ingest lost the broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        received_at: datetime = utc_now()
        message = InboundMessage(msg.topic, msg.payload, msg.qos, msg.mid, self._generation, received_at)
        inbox = self.inboxes[partition_of(msg.topic, len(self.inboxes))]
        while not self._intake_closed.is_set():
            try:
                inbox.put(message, timeout=0.5)
                return
            except queue.Full:
                continue  # block the network loop: the broker holds the rest (backpressure, never a drop)
