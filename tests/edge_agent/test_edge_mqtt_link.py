"""MqttLink against a real broker: CITYOPS_TEST_MQTT_URL (default the local anonymous mqtt://127.0.0.1:1883).

Skipped when no broker answers. The test plays the hub with a plain paho client.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cityops.contract.topics import Topic, device_topic
from edge_agent.comms.mqtt_link import MqttLink
from edge_agent.config import MqttUrl

pytestmark = pytest.mark.integration

BROKER = MqttUrl.parse(os.environ.get("CITYOPS_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"))


def _broker_up() -> bool:
    try:
        socket.create_connection((BROKER.host, BROKER.port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def hub():
    if not _broker_up():
        pytest.skip(f"no MQTT broker at {BROKER.host}:{BROKER.port} (set CITYOPS_TEST_MQTT_URL)")
    received: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"hub-{uuid.uuid4().hex[:8]}")
    if BROKER.username:
        client.username_pw_set(BROKER.username, BROKER.password)
    client.on_message = lambda _c, _u, msg: received.put((msg.topic, msg.payload, msg.retain))
    client.connect(BROKER.host, BROKER.port)
    client.loop_start()
    yield client, received
    client.loop_stop()
    client.disconnect()


def _next(received: queue.Queue, topic: str) -> tuple[bytes, bool]:
    while True:
        got_topic, payload, retain = received.get(timeout=10)
        if got_topic == topic:
            return payload, retain


def test_state_events_ack_and_clean_goodbye(hub) -> None:
    client, received = hub
    device_id = f"edge-t-{uuid.uuid4().hex[:8]}"
    client.subscribe(f"cityops/v1/dev/{device_id}/#", qos=1)
    inbox: queue.Queue[tuple[Topic, bytes]] = queue.Queue()
    connects: list[int] = []
    url = BROKER.model_copy(update={"username": device_id, "password": "pw"}) if not BROKER.username else BROKER
    link = MqttLink(
        device_id,
        url,
        agent_version="test",
        on_message=lambda s, p: inbox.put((s, p)),
        on_connected=lambda: connects.append(1),
    )
    state_topic = device_topic(device_id, Topic.STATE)
    try:
        link.start()
        assert link.wait_connected(10)
        payload, _ = _next(received, state_topic)
        assert json.loads(payload)["online"] is True and connects == [1]

        assert link.publish(Topic.EVENTS, b'{"schema":"cityops.events/1"}', qos=1)
        payload, _ = _next(received, device_topic(device_id, Topic.EVENTS))
        assert payload == b'{"schema":"cityops.events/1"}'

        client.publish(device_topic(device_id, Topic.ACK), b'{"acked_seq": 5}', qos=1)
        assert inbox.get(timeout=10) == (Topic.ACK, b'{"acked_seq": 5}')
    finally:
        link.stop()
    payload, _ = _next(received, state_topic)
    assert json.loads(payload)["online"] is False
    client.publish(state_topic, b"", qos=1, retain=True).wait_for_publish(5)  # leave no retained state behind
