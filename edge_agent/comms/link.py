"""What the rest of the agent needs from the hub connection; MqttLink implements it, tests use a fake."""

from __future__ import annotations

from typing import Protocol

from cityops.contract.topics import Topic


class Link(Protocol):
    def is_connected(self) -> bool: ...

    def publish(self, suffix: Topic, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Hand a message for this device's `suffix` topic to the client; True when it was accepted for sending.

        Acceptance is not delivery: events are forgotten only on the hub's ack.
        """
        ...
