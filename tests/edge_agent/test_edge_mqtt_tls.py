"""MqttLink over TLS against a real Mosquitto with a TLS listener and a throwaway CA (tests/tls_certs.py).

The broker also keeps its plain loopback listener, where the test plays the hub (as the compose deployment does).
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cityops.contract.topics import Topic, device_topic
from cloud_hub.broker.dynsec import DynsecAdmin
from cloud_hub.stack.mosquitto import BrokerHandle, TlsListener, start_isolated_broker
from cloud_hub.stack.processes import free_tcp_port
from edge_agent.comms.mqtt_link import MqttLink, tls_context
from edge_agent.config import MqttUrl
from tests.cloud_hub.stack.stack_fixtures import broker_unavailable_reason
from tests.tls_certs import ServerCerts, make_ca, make_server_certs

pytestmark = pytest.mark.integration

DEVICE_PASSWORD = "tls-device-secret"


@dataclass(frozen=True)
class TlsBroker:
    broker: BrokerHandle
    certs: ServerCerts
    device_id: str

    def url(self, scheme: str, host: str = "127.0.0.1") -> MqttUrl:
        return MqttUrl.parse(f"{scheme}://{self.device_id}:{DEVICE_PASSWORD}@{host}:{self.broker.tls_port}")


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    reason = broker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("tls-broker")
    certs = make_server_certs(tmp / "certs")
    broker = start_isolated_broker(
        tmp / "state", tls=TlsListener(port=free_tcp_port(), certfile=certs.certfile, keyfile=certs.keyfile)
    )
    device_id = f"edge-tls-{uuid.uuid4().hex[:8]}"
    try:
        with DynsecAdmin.connect(broker.admin_endpoint) as admin:
            admin.provision_device(device_id, DEVICE_PASSWORD)  # the device's own account and ACL, as the hub does
        yield TlsBroker(broker, certs, device_id)
    finally:
        broker.stop()


@pytest.fixture
def hub(tls_broker: TlsBroker) -> Iterator[queue.Queue[tuple[str, bytes]]]:
    """The hub identity on the broker's plain loopback listener, subscribed to the device's topics."""
    endpoint = tls_broker.broker.hub_endpoint
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    client.username_pw_set(endpoint.username, endpoint.password)
    client.on_message = lambda _c, _u, msg: received.put((msg.topic, msg.payload))
    client.on_subscribe = lambda *_args: subscribed.put(True)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    client.subscribe(f"cityops/v1/dev/{tls_broker.device_id}/#", qos=1)
    subscribed.get(timeout=10)
    yield received
    client.loop_stop()
    client.disconnect()


def wait_for_error(link: MqttLink) -> str:
    """The link's reason for being down, once it has one (bounded: a hang fails the test, not the run)."""
    for _ in range(300):
        if link.last_error:
            return link.last_error
        time.sleep(0.05)
    pytest.fail("the link neither connected nor reported an error")


def test_mqtts_link_with_the_ca_connects_and_delivers(tls_broker: TlsBroker, hub: queue.Queue) -> None:
    link = MqttLink(
        tls_broker.device_id,
        tls_broker.url("mqtts"),
        agent_version="test",
        on_message=lambda _s, _p: None,
        ca_file=tls_broker.certs.ca_file,
    )
    events = device_topic(tls_broker.device_id, Topic.EVENTS)
    try:
        link.start()
        assert link.wait_connected(15), link.last_error
        assert link.publish(Topic.EVENTS, b'{"schema":"cityops.events/1"}', qos=1)
        while (got := hub.get(timeout=10))[0] != events:
            pass
        assert got[1] == b'{"schema":"cityops.events/1"}'
    finally:
        link.stop()


def test_host_name_is_checked_against_the_certificate(tls_broker: TlsBroker) -> None:
    context = tls_context(tls_broker.certs.ca_file)
    assert context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"
    link = MqttLink(
        tls_broker.device_id,
        tls_broker.url("mqtts", host="localhost"),  # the certificate's DNS name works as well as its address
        agent_version="test",
        on_message=lambda _s, _p: None,
        ca_file=tls_broker.certs.ca_file,
    )
    try:
        link.start()
        assert link.wait_connected(15), link.last_error
    finally:
        link.stop()


def test_a_client_trusting_another_ca_is_refused(tls_broker: TlsBroker, tmp_path: Path) -> None:
    other_ca, _key, _cert = make_ca(tmp_path / "other", name="Someone else's CA")
    link = MqttLink(
        tls_broker.device_id,
        tls_broker.url("mqtts"),
        agent_version="test",
        on_message=lambda _s, _p: None,
        ca_file=other_ca,
    )
    try:
        link.start()
        error = wait_for_error(link)
        assert "certificate is not trusted" in error and "mqtt_ca_file" in error, error
        assert not link.is_connected()
    finally:
        link.stop()


def test_plain_mqtt_against_the_tls_port_fails_with_a_clear_error(tls_broker: TlsBroker) -> None:
    link = MqttLink(tls_broker.device_id, tls_broker.url("mqtt"), agent_version="test", on_message=lambda _s, _p: None)
    try:
        link.start()
        error = wait_for_error(link)
        assert "closed the connection before answering CONNECT" in error and "use mqtts://" in error, error
        assert not link.is_connected()
    finally:
        link.stop()


def test_a_missing_ca_file_is_refused_by_name(tls_broker: TlsBroker, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.crt"
    with pytest.raises(ValueError, match=f"MQTT CA file {missing} does not exist"):
        MqttLink(
            tls_broker.device_id,
            tls_broker.url("mqtts"),
            agent_version="test",
            on_message=lambda _s, _p: None,
            ca_file=missing,
        )
