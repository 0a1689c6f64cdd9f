"""MQTT topic names of protocol v1: `cityops/v1/dev/{device_id}/{suffix}`."""

from __future__ import annotations

import re
from enum import StrEnum

PREFIX = "cityops/v1/dev"
SHARE_GROUP = "hub"
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")


class Topic(StrEnum):
    """Topic suffixes; the value is the last topic level."""

    EVENTS = "events"
    TELEMETRY = "telemetry"
    HEALTH = "health"
    STATE = "state"
    ACK = "ack"
    CMD = "cmd"
    CMD_RESULT = "cmd_result"
    CONFIG = "config"


DEVICE_TO_HUB = (Topic.EVENTS, Topic.TELEMETRY, Topic.HEALTH, Topic.STATE, Topic.CMD_RESULT)
HUB_TO_DEVICE = (Topic.ACK, Topic.CMD, Topic.CONFIG)


def is_valid_device_id(device_id: str) -> bool:
    return bool(DEVICE_ID_PATTERN.fullmatch(device_id))


def device_topic(device_id: str, suffix: Topic) -> str:
    """Topic of one device, for example `cityops/v1/dev/edge-0007/events`."""
    if not is_valid_device_id(device_id):
        raise ValueError(f"invalid device_id {device_id!r}: 3-64 chars of [A-Za-z0-9_.-]")
    return f"{PREFIX}/{device_id}/{suffix.value}"


def device_prefix(device_id: str) -> str:
    return f"{PREFIX}/{device_id}/"


def shared_subscription(suffix: Topic, group: str = SHARE_GROUP) -> str:
    """Shared subscription that splits one suffix of all devices among hub replicas."""
    return f"$share/{group}/{PREFIX}/+/{suffix.value}"


def parse_topic(topic: str) -> tuple[str, Topic] | None:
    """Return `(device_id, suffix)` of a protocol topic, or None when the topic is not one."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != PREFIX:
        return None
    device_id, suffix = parts[3], parts[4]
    if not is_valid_device_id(device_id):
        return None
    try:
        return device_id, Topic(suffix)
    except ValueError:
        return None
