"""A real Mosquitto with dynamic security: device identities, ACLs and the hub's shared subscription."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from stack_fixtures import isolated_broker  # noqa: F401 (fixture)

from cloud_hub.broker.dynsec import DynsecAdmin, NoBrokerAdmin, connect_broker_admin
from cloud_hub.core.config import MqttEndpoint
from cloud_hub.stack.mosquitto import BrokerHandle

pytestmark = pytest.mark.integration
NOT_AUTHORIZED = 135
WAIT_S = 5.0


class Peer:
    """A paho client that records what happens to it, for assertions."""

    def __init__(self, broker: BrokerHandle, username: str, password: str, client_id: str | None = None) -> None:
        self.connack: queue.Queue[int] = queue.Queue()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.pubacks: dict[int, queue.Queue[int]] = {}
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or username, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc.value)
        self.client.on_subscribe = lambda _c, _u, _m, rcs, _p: self.subacks.put([r.value for r in rcs])
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.disconnected = threading.Event()
        self.client.on_disconnect = lambda *_a: self.disconnected.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._lock:
            self.pubacks.setdefault(mid, queue.Queue()).put(rc.value)

    def connected(self) -> int:
        return self.connack.get(timeout=WAIT_S)

    def subscribe(self, topic: str) -> list[int]:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=WAIT_S)

    def publish_qos1(self, topic: str, payload: bytes) -> int:
        """Returns the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            waiter = self.pubacks.setdefault(info.mid, queue.Queue())
        return waiter.get(timeout=WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def admin(isolated_broker: BrokerHandle) -> Iterator[DynsecAdmin]:  # noqa: F811
    handle = DynsecAdmin.connect(isolated_broker.hub_endpoint)
    yield handle
    handle.close()


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    created: list[Peer] = []
    yield created
    for peer in created:
        peer.close()


def test_devices_are_confined_to_their_own_topics(
    isolated_broker: BrokerHandle,  # noqa: F811
    admin: DynsecAdmin,
    peers: list[Peer],
) -> None:
    admin.provision_device("edge-a", "secret-a")
    admin.provision_device("edge-b", "secret-b")

    hub = Peer(isolated_broker, "cityops-hub", isolated_broker.secrets.hub_mqtt_password, "hub-replica-1")
    device_a = Peer(isolated_broker, "edge-a", "secret-a")
    peers += [hub, device_a]
    assert hub.connected() == 0
    assert device_a.connected() == 0
    assert hub.subscribe("$share/hub/cityops/v1/dev/+/events") == [1]

    # Into another device's prefix: refused with PUBACK 0x87 (MQTT 5) and never delivered.
    assert device_a.publish_qos1("cityops/v1/dev/edge-b/events", b'{"forged": true}') == NOT_AUTHORIZED
    marker = json.dumps({"marker": uuid.uuid4().hex}).encode()
    assert device_a.publish_qos1("cityops/v1/dev/edge-a/events", marker) == 0
    received = hub.messages.get(timeout=WAIT_S)
    assert (received.topic, received.payload) == ("cityops/v1/dev/edge-a/events", marker)
    assert hub.messages.empty()  # the forged message did not arrive before (or after) the good one

    # Hub-to-device topics: a device may hear its own, never another device's, and never forge them.
    assert device_a.subscribe("cityops/v1/dev/edge-b/ack") == [NOT_AUTHORIZED]
    assert device_a.subscribe("cityops/v1/dev/edge-a/ack") == [1]
    assert device_a.publish_qos1("cityops/v1/dev/edge-a/ack", b'{"acked_seq": 999}') == NOT_AUTHORIZED
    hub_ack = b'{"acked_seq": 7}'
    hub.client.publish("cityops/v1/dev/edge-a/ack", hub_ack, qos=1)
    assert device_a.messages.get(timeout=WAIT_S).payload == hub_ack


def test_wrong_password_and_foreign_client_id_are_refused(
    isolated_broker: BrokerHandle,  # noqa: F811
    admin: DynsecAdmin,
    peers: list[Peer],
) -> None:
    admin.provision_device("edge-c", "right")
    wrong = Peer(isolated_broker, "edge-c", "wrong")
    borrowed = Peer(isolated_broker, "edge-c", "right", client_id="someone-else")
    peers += [wrong, borrowed]
    assert wrong.connected() == NOT_AUTHORIZED
    assert borrowed.connected() == NOT_AUTHORIZED


def test_provisioning_again_replaces_the_secret_and_remove_revokes(
    isolated_broker: BrokerHandle,  # noqa: F811
    admin: DynsecAdmin,
    peers: list[Peer],
) -> None:
    admin.provision_device("edge-d", "first")
    admin.provision_device("edge-d", "second")
    assert admin.get_client("edge-d") == {
        "username": "edge-d",
        "clientid": "edge-d",
        "roles": [{"rolename": "device:edge-d"}],
        "groups": [],
    }
    old = Peer(isolated_broker, "edge-d", "first")
    peers.append(old)
    assert old.connected() == NOT_AUTHORIZED
    new = Peer(isolated_broker, "edge-d", "second", client_id="edge-d")
    peers.append(new)
    assert new.connected() == 0

    admin.remove_device("edge-d")
    admin.remove_device("edge-d")  # idempotent
    assert admin.get_client("edge-d") is None


def test_removing_a_device_disconnects_it_at_once(
    isolated_broker: BrokerHandle,  # noqa: F811
    admin: DynsecAdmin,
    peers: list[Peer],
) -> None:
    """Retiring a stolen box must not wait for its next reconnect: the broker drops the live connection."""
    admin.provision_device("edge-r", "secret")
    box = Peer(isolated_broker, "edge-r", "secret")
    peers.append(box)
    assert box.connected() == 0
    box.client.reconnect_delay_set(60, 60)  # paho must not sneak back in before the check below
    admin.remove_device("edge-r")
    assert box.disconnected.wait(WAIT_S), "the broker kept the removed device's connection open"
    again = Peer(isolated_broker, "edge-r", "secret")
    peers.append(again)
    assert again.connected() == NOT_AUTHORIZED


def test_connect_broker_admin_reports_refusal_as_unavailable(isolated_broker: BrokerHandle) -> None:  # noqa: F811
    good = connect_broker_admin(isolated_broker.hub_endpoint)
    try:
        assert good.available()
    finally:
        good.close()  # type: ignore[attr-defined]
    refused = connect_broker_admin(isolated_broker.endpoint("cityops-hub", "not-the-password"), timeout_s=3)
    assert isinstance(refused, NoBrokerAdmin)
    assert not refused.available()
    assert "refused" in refused.reason
    refused.provision_device("edge-e", "x")  # a logged no-op, not an error


def test_broker_admin_without_dynsec_rights_is_unavailable(isolated_broker: BrokerHandle) -> None:  # noqa: F811
    """An identity without the dynsec ACLs cannot administer: the stand-in says why instead of failing later."""
    with DynsecAdmin.connect(isolated_broker.hub_endpoint) as admin:
        admin.ensure_client("viewer", "pw", roles=[])
    result = connect_broker_admin(MqttEndpoint(f"mqtt://viewer:pw@{isolated_broker.host}:{isolated_broker.port}"), 2)
    assert isinstance(result, NoBrokerAdmin)
    assert "dynsec" in result.reason
