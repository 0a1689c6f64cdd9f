"""Plain data passed between the hub's ingest and the parts that act on stored events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import psycopg

from cityops.contract.messages import Event


@dataclass(frozen=True, slots=True)
class IngestedEvent:
    """An event that this transaction stored for the first time (never a duplicate)."""

    device_id: str
    event: Event


class EventProcessor(Protocol):
    """Runs inside the ingest transaction after new events are inserted, before the commit and the ack,
    so an event and its effects (incident, work order) are stored together or not at all."""

    def __call__(self, conn: psycopg.Connection, events: Sequence[IngestedEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestedReading:
    """A telemetry reading that this transaction stored for the first time."""

    device_id: str
    sensor_id: str
    metric: str
    ts: datetime
    value: float


class TelemetryProcessor(Protocol):
    """Runs inside the ingest transaction that stored new telemetry readings (threshold rules open and close
    incidents through the same incident and work-order path as edge events)."""

    def __call__(self, conn: psycopg.Connection, readings: Sequence[IngestedReading]) -> None: ...
