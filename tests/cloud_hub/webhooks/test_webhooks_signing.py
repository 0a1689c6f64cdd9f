"""Signing, verification and retry arithmetic of webhook deliveries, and which live messages become which events.
Pure: no database, no network."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime

import pytest

from cloud_hub.live.messages import LiveMessage, Position
from cloud_hub.webhooks import events, signing

BODY = b'{"id":"x","type":"work_order.created","data":{}}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(b"topsecret-0123456789", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.signature("topsecret-0123456789", 1700000000, BODY) == f"v1={expected}"


@pytest.mark.parametrize(
    ("secret", "body", "sent_at", "now", "ok"),
    [
        ("topsecret-0123456789", BODY, 1700000000, 1700000010, True),
        ("wrong-secret-0123456789", BODY, 1700000000, 1700000010, False),
        ("topsecret-0123456789", BODY + b" ", 1700000000, 1700000010, False),  # body changed on the way
        ("topsecret-0123456789", BODY, 1700000000, 1700000000 + 301, False),  # replayed later
        ("topsecret-0123456789", BODY, 1700000000, 1700000000 - 301, False),  # clock far ahead
    ],
)
def test_a_receiver_verifies_secret_body_and_freshness(
    secret: str, body: bytes, sent_at: int, now: float, ok: bool
) -> None:
    headers = {
        "X-CityOps-Timestamp": str(sent_at),
        "X-CityOps-Signature": signing.signature("topsecret-0123456789", sent_at, BODY),
    }
    assert signing.verify(secret, headers, body, now) is ok


def test_verification_reads_headers_in_any_case_and_accepts_one_of_several_signatures() -> None:
    sig = signing.signature("topsecret-0123456789", 1700000000, BODY)
    headers = {"x-cityops-timestamp": "1700000000", "x-cityops-signature": f"v1={'0' * 64}, {sig}"}
    assert signing.verify("topsecret-0123456789", headers, BODY, 1700000000)
    assert not signing.verify("topsecret-0123456789", {"x-cityops-timestamp": "soon"}, BODY, 1700000000)


def test_backoff_doubles_with_jitter_up_to_the_cap_then_dead_letters() -> None:
    policy = signing.RetryPolicy(base_s=10, cap_s=3600, max_attempts=12)
    assert [policy.delay_s(n, lambda: 1.0) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert [policy.delay_s(n, lambda: 0.0) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]  # jitter: half to all of it
    assert policy.delay_s(30, lambda: 1.0) == 3600 and policy.delay_s(10_000, lambda: 0.5) == 2700
    assert not policy.exhausted(11) and policy.exhausted(12)
    with pytest.raises(ValueError):
        signing.RetryPolicy(base_s=10, cap_s=5)


def _message(topic: str, op: str) -> LiveMessage:
    return LiveMessage(Position(812, 4031), datetime(2026, 11, 23, 2, 0, tzinfo=UTC), topic, op, '{"a": [1, "二"]}')


@pytest.mark.parametrize(
    ("topic", "op", "event_type"),
    [
        ("incident", "opened", "incident.opened"),
        ("incident", "closed", "incident.closed"),
        ("incident", "updated", None),  # every refresh of an incident: too chatty for a gateway
        ("work_order", "created", "work_order.created"),
        ("work_order", "transition", "work_order.transition"),
        ("work_order", "unassigned", None),
        ("device", "offline", "device.offline"),
        ("device", "health", None),
        ("mode", "enabled", "mode.enabled"),
    ],
)
def test_live_messages_map_to_event_types(topic: str, op: str, event_type: str | None) -> None:
    assert events.event_type_of(_message(topic, op)) == event_type


def test_the_body_carries_id_type_time_position_and_the_payload_as_is() -> None:
    message = _message("work_order", "created")
    delivery_id = uuid.uuid4()
    body = json.loads(events.body(delivery_id, "work_order.created", message.at, message.data_json, "812.4031"))
    assert body == {
        "id": str(delivery_id),
        "type": "work_order.created",
        "occurred_at": "2026-11-23T02:00:00+00:00",
        "position": "812.4031",
        "data": {"a": [1, "二"]},
    }
