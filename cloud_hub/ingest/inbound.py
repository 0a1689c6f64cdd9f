"""What the consumer hands the writer, and what the writer needs back from the broker connection."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    qos: int
    mid: int  # MQTT packet id, needed to PUBACK it after the commit
    generation: int  # which broker connection delivered it; a packet id means nothing on a later connection
    received_at: datetime


class BrokerLink(Protocol):
    """The broker connection as the writer sees it (implemented by `consumer.MqttConsumer`)."""

    def ack(self, message: InboundMessage) -> None:
        """PUBACK a message whose content is committed (no-op for QoS 0 or a message of a closed connection)."""

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Queue a message for the broker; QoS 1 messages are retried by the client across reconnects."""


def partition_of(topic: str, partitions: int) -> int:
    """Which writer a message goes to: always the same one for a device (`cityops/v1/dev/{device_id}/...`).

    Writers then never share a device, so their transactions never wait on each other's cursor or situation
    locks, and a device's messages are stored and acked in the order they arrived. A topic of another shape
    (dead-lettered anyway) goes to the first writer."""
    if partitions <= 1:
        return 0
    parts = topic.split("/", 4)
    if len(parts) < 5:
        return 0
    return zlib.crc32(parts[3].encode()) % partitions
