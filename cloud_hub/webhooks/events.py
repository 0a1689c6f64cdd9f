"""Which live-channel messages become which webhook events, and the body a receiver gets. Pure.

Event types are `<topic>.<op>` of the live channel (cloud_hub.live.messages), those listed in EVENT_TYPES: the
changes a gateway acts on. Chatty ones (an incident's every update, device health) are not offered.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import orjson

from cloud_hub.live.messages import LiveMessage

EVENT_TYPES: dict[str, str] = {
    "incident.opened": "a new incident (a device's detection or a citizen's report)",
    "incident.ended": "the device no longer sees the situation",
    "incident.closed": "its work order was closed or judged a false alarm",
    "work_order.created": "a new work order: registered, or dispatched to an officer (steps included)",
    "work_order.transition": "a work order moved: accepted, on_site, resolved, verified, closed, escalated, ...",
    "work_order.updated": "severity or deadline changed without a transition",
    "work_order.photo": "a photo was added to a work order",
    "device.online": "a device came online",
    "device.offline": "a device went offline",
    "mode.enabled": "a city-wide mode (rainstorm) was switched on",
    "mode.disabled": "a city-wide mode was switched off",
}
PING = "ping"  # sent on request to test a receiver; not subscribable


def event_type_of(message: LiveMessage) -> str | None:
    """The webhook event type of a live message, or None when it is not one a subscription can name."""
    name = f"{message.topic}.{message.op}"
    return name if name in EVENT_TYPES else None


def body(delivery_id: UUID, event_type: str, occurred_at: datetime, data_json: str, position: str | None) -> str:
    """The JSON a receiver gets: {id, type, occurred_at, position, data}; `data` is the live message's payload
    (the work order with its steps, the incident, the device or the mode) exactly as the live channel sends it.
    `position` orders messages (`<txid>.<id>`, increasing); deliveries themselves may arrive out of order."""
    head = orjson.dumps(
        {"id": str(delivery_id), "type": event_type, "occurred_at": occurred_at, "position": position}
    ).decode()
    return f'{head[:-1]},"data":{data_json}}}'
