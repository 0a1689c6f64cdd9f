"""Live-channel messages as the hub reads them from `live_messages` and sends them to browsers. Pure.

A message's place in the stream is its `Position` (the writing transaction's id, then the row id): the order in
which the hub delivers messages, and the SSE `id` a client sends back as `Last-Event-ID` to resume after a drop.
What a user receives is decided by `visible`, from the scope columns alone (the same rule as the REST lists:
`cloud_hub.auth.scope`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from cloud_hub.auth.scope import Scope

TOPICS: tuple[str, ...] = ("incident", "work_order", "device", "mode")
_POSITION = re.compile(r"^(\d{1,20})\.(\d{1,20})$")


@dataclass(frozen=True, slots=True, order=True)
class Position:
    txid: int
    id: int

    def __str__(self) -> str:
        return f"{self.txid}.{self.id}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """`"<txid>.<id>"` as sent in an SSE id; ValueError naming the expected form otherwise."""
        match = _POSITION.match(text.strip())
        if match is None:
            raise ValueError(
                f"Last-Event-ID {text[:40]!r} is not a live position (expected <txid>.<id>, e.g. 812.4031)"
            )
        return cls(int(match.group(1)), int(match.group(2)))


START = Position(0, 0)


@dataclass(frozen=True, slots=True)
class LiveMessage:
    position: Position
    at: datetime
    topic: str
    op: str
    data_json: str  # the payload as JSON text: forwarded as is, never re-parsed per client
    grid_id: str | None = None
    district: str | None = None
    assignee: str | None = None
    kind: str | None = None
    device_id: str | None = None

    def envelope(self) -> str:
        """The SSE `data:` of this message: {id, topic, op, at, data}."""
        head = orjson.dumps({"id": str(self.position), "topic": self.topic, "op": self.op, "at": self.at}).decode()
        return f'{head[:-1]},"data":{self.data_json}}}'


def parse_topics(text: str | None, scope: Scope) -> frozenset[str]:
    """The topics a client asked for (comma separated; none: all it may see). ValueError names unknown ones."""
    wanted = [t.strip() for t in (text or "").split(",") if t.strip()] or list(TOPICS)
    unknown = [t for t in wanted if t not in TOPICS]
    if unknown:
        raise ValueError(f"topics: unknown {', '.join(unknown)}; choose from {', '.join(TOPICS)}")
    allowed = {t for t in wanted if t != "device" or scope.sees_device()}
    if scope.role == "technician":
        allowed.discard("work_order")
    return frozenset(allowed)


def visible(scope: Scope, topics: frozenset[str], message: LiveMessage) -> bool:
    """Whether `message` goes to a user with `scope` who subscribed to `topics`."""
    if message.topic not in topics:
        return False
    row: dict[str, Any] = {
        "grid_id": message.grid_id,
        "district": message.district,
        "assignee": message.assignee,
        "kind": message.kind,
    }
    if message.topic == "incident":
        return scope.sees_incident(row)
    if message.topic == "work_order":
        return scope.sees_work_order(row)
    if message.topic == "device":
        return scope.sees_device(row)
    return message.topic == "mode"
