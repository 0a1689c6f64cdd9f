"""ACL sets of the broker identities, as Mosquitto dynamic-security role ACL entries (pure data).

Semantics verified against Mosquitto 2.0.11 (tests/cloud_hub/stack/test_stack_broker_acl.py):
- With every default access set to deny, an identity can do only what its role grants.
- A shared subscription is checked with its full filter: `$share/hub/cityops/v1/dev/+/events` needs a
  `subscribePattern` for `$share/hub/...`; a grant on `cityops/#` alone gives SUBACK 0x87 (not authorized).
- A publish outside the grants is dropped by the broker. QoS 0: silently. QoS 1 over MQTT 5: PUBACK with reason
  code 0x87 (not authorized) and nobody receives it. QoS 1 over MQTT 3.1.1: a normal PUBACK, still dropped.
- Within a role, the entry with the highest priority that matches decides.
"""

from __future__ import annotations

from typing import Any

from cityops.contract.topics import HUB_TO_DEVICE, PREFIX, device_prefix, is_valid_device_id

HUB_ROLE = "cityops-hub"
DYNSEC_TOPIC_FILTER = "$CONTROL/dynamic-security/#"
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": False,
}

Acl = dict[str, Any]


def _acl(acltype: str, topic: str, allow: bool = True, priority: int = 0) -> Acl:
    return {"acltype": acltype, "topic": topic, "allow": allow, "priority": priority}


def device_role_name(device_id: str) -> str:
    return f"device:{device_id}"


def device_acls(device_id: str) -> list[Acl]:
    """A device publishes only under its own prefix and hears only its own ack, cmd and config."""
    if not is_valid_device_id(device_id):
        raise ValueError(f"invalid device_id {device_id!r}: 3-64 chars of [A-Za-z0-9_.-]")
    prefix = device_prefix(device_id)
    acls = [_acl("publishClientSend", prefix + "#")]
    for suffix in HUB_TO_DEVICE:
        topic = prefix + suffix.value
        # Higher priority deny: a device must not forge what only the hub sends (e.g. overwrite its retained config).
        acls.append(_acl("publishClientSend", topic, allow=False, priority=10))
        acls.append(_acl("subscribeLiteral", topic))
        acls.append(_acl("unsubscribeLiteral", topic))
        acls.append(_acl("publishClientReceive", topic))
    return acls


def hub_acls(share_group: str = "+") -> list[Acl]:
    """The hub reads and writes the whole protocol tree, consumes it through shared subscriptions (any group by
    default: replicas of one deployment share a group, and a test hub takes a group of its own), and administers
    device identities through the dynamic-security control topic."""
    tree = PREFIX.split("/", 1)[0] + "/#"  # cityops/#
    shared = f"$share/{share_group}/{tree}"
    acls: list[Acl] = []
    for topic in (tree, DYNSEC_TOPIC_FILTER):
        acls += [_acl("publishClientSend", topic), _acl("publishClientReceive", topic)]
    for topic in (tree, shared, DYNSEC_TOPIC_FILTER):
        acls += [_acl("subscribePattern", topic), _acl("unsubscribePattern", topic)]
    return acls


def default_acl_access_command() -> dict[str, Any]:
    return {
        "command": "setDefaultACLAccess",
        "acls": [{"acltype": name, "allow": allow} for name, allow in DEFAULT_ACL_ACCESS.items()],
    }


# Evaluating the ACL sets above for a broker that asks the hub (EMQX's HTTP authorisation): the same entries, read
# the way Mosquitto's dynamic security reads them, so both brokers enforce one definition.
ACTION_ACLTYPES = {
    "publish": ("publishClientSend",),
    "subscribe": ("subscribeLiteral", "subscribePattern"),
    "unsubscribe": ("unsubscribeLiteral", "unsubscribePattern"),
}


def filter_covered(pattern: str, topic_filter: str) -> bool:
    """True when every topic `topic_filter` can match is matched by the ACL `pattern` (a topic name is a filter
    without wildcards); Mosquitto's sub-matches-ACL rule: a wildcard in the filter needs one in the pattern."""
    pattern_levels, levels = pattern.split("/"), topic_filter.split("/")
    for i, level in enumerate(pattern_levels):
        if level == "#":
            return True
        if i >= len(levels) or levels[i] == "#":
            return False
        if level != "+" and levels[i] != level:
            return False
    return len(levels) == len(pattern_levels)


def _entry_matches(entry: Acl, topic: str) -> bool:
    if entry["acltype"].endswith("Literal"):
        return bool(entry["topic"] == topic)
    return filter_covered(entry["topic"], topic)


def acl_allows(acls: list[Acl], action: str, topic: str) -> bool:
    """Whether an identity with these ACL entries may `action` ("publish", "subscribe", "unsubscribe") `topic`:
    the highest-priority matching entry decides; none matching means deny (our default ACL access)."""
    kinds = ACTION_ACLTYPES.get(action)
    if kinds is None or not topic:
        return False
    if action == "publish" and ("+" in topic or "#" in topic):
        return False  # wildcards are not valid in a topic name
    matching = [e for e in acls if e["acltype"] in kinds and _entry_matches(e, topic)]
    return bool(matching) and bool(max(matching, key=lambda e: e["priority"])["allow"])
