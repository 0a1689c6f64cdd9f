"""What the consumer hands the writer, and what the writer needs back from the broker connection."""

from __future__ import annotations

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
