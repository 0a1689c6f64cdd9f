"""Simulated devices for the ingest benchmark and the reliability tests: real MQTT, protocol v1 event batches,
and an in-memory outbox with the device side of the delivery guarantee.

Each device keeps every sent batch until the hub's `ack` covers it (a broker PUBACK never releases it), and
re-sends everything unacked when no ack progress came for `retransmit_s`, doubling that wait after each resend
that brought no progress (at most MAX_BACKOFF_S; also at once after a reconnect), like the edge
outbox. At most `window_events` events are unacked at once (the outbox's bound), so a hub that stops acking
stops the device too. Many devices share one process, each with its own connection; `run_devices` is the
entry point for one process of a multiprocessing pool.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cityops.contract.messages import format_ts, new_event_id, utc_now
from cityops.contract.topics import Topic, device_topic

MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class DeviceSpec:
    device_id: str
    password: str | None  # None: anonymous (a broker without ACLs)


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    devices: tuple[DeviceSpec, ...]
    events_per_device: int
    events_per_message: int = 50
    window_events: int = 2000
    rate_eps: float | None = None  # events/s for all devices of this process together; None: as fast as acked
    retransmit_s: float = 5.0
    deadline_s: float = 300.0
    username_override: str | None = None  # publish as this identity (e.g. the hub's) instead of the device's
    password_override: str | None = None


def event_json(seq: int, now_text: str) -> bytes:
    """One event as compact JSON; built by hand on purpose: the generator must cost far less than the hub."""
    return (
        b'{"event_id":"%s","seq":%d,"ts":"%s","camera_id":"cam-1","kind":"illegal_parking",'
        b'"subtype":"no_parking_zone","phase":"update","incident_key":"bench/zone-a/track-%d","confidence":0.8,'
        b'"zone_id":"zone-a","bbox":[0.1,0.2,0.3,0.4],"track_id":%d,"measurements":{"dwell_s":31.5}}'
        % (new_event_id().encode(), seq, now_text.encode(), seq % 50, seq % 50)
    )


def batch_json(device_id: str, events: list[bytes]) -> bytes:
    return b'{"schema":"cityops.events/1","device_id":"%s","events":[%s]}' % (device_id.encode(), b",".join(events))


@dataclass
class _Pending:
    last_seq: int
    payload: bytes
    first_sent: float


@dataclass
class SimDevice:
    spec: DeviceSpec
    load: LoadSpec
    next_seq: int = 1
    acked: int = 0
    retransmitted_batches: int = 0
    latencies_s: list[float] = field(default_factory=list)
    _unacked: dict[int, _Pending] = field(default_factory=dict)  # first seq -> batch
    _progress_at: float = field(default_factory=time.monotonic)
    _quiet_s: float = 0.0  # the current wait without ack progress before a resend (0: retransmit_s)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: Any = None
    _reconnected: bool = False
    _outbox: list[bytes] = field(default_factory=list)  # event seq s is _outbox[s - 1]

    def fill_outbox(self) -> None:
        """Serialise every event before the clock starts, as an edge outbox holds them ready to send: the hub is
        measured, not the generator's JSON building, which shares the same cores."""
        now_text = format_ts(utc_now())
        self._outbox = [event_json(s, now_text) for s in range(1, self.load.events_per_device + 1)]

    def connect(self) -> None:
        d, load = self.spec, self.load
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=d.device_id, protocol=mqtt.MQTTv5)
        user = load.username_override or d.device_id
        password = load.password_override if load.username_override else d.password
        if password is not None:
            client.username_pw_set(user, password)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)  # unbounded inside paho; our window bounds what we hand it
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect_async(load.host, load.port, keepalive=30)
        client.loop_start()
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if not reason.is_failure:
            client.subscribe(device_topic(self.spec.device_id, Topic.ACK), qos=1)
            with self._lock:
                self._reconnected = True  # the broker may have lost in-flight messages: resend all unacked

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        acked = int(orjson.loads(msg.payload)["acked_seq"])
        now = time.monotonic()
        with self._lock:
            if acked <= self.acked:
                return
            self.acked = acked
            self._progress_at = now
            self._quiet_s = 0.0
            for first in [f for f, p in self._unacked.items() if p.last_seq <= acked]:
                self.latencies_s.append(now - self._unacked.pop(first).first_sent)

    @property
    def done(self) -> bool:
        return self.acked >= self.load.events_per_device

    def can_send(self) -> bool:
        with self._lock:
            in_flight = self.next_seq - 1 - self.acked
            return self.next_seq <= self.load.events_per_device and in_flight < self.load.window_events

    def send_next(self) -> int:
        """Build and publish the next batch; returns how many events it carried."""
        n = min(self.load.events_per_message, self.load.events_per_device - self.next_seq + 1)
        first = self.next_seq
        if len(self._outbox) < first + n - 1:
            self.fill_outbox()
        payload = batch_json(self.spec.device_id, self._outbox[first - 1 : first - 1 + n])
        with self._lock:
            self._unacked[first] = _Pending(first + n - 1, payload, time.monotonic())
            self.next_seq += n
        self._publish(payload)
        return n

    def retransmit_if_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            quiet_s = self._quiet_s or self.load.retransmit_s
            due = self._reconnected or (self._unacked and now - self._progress_at > quiet_s)
            if not due:
                return
            if not self._reconnected:
                # A hub slower than the timeout must not drown in resends of what it is still storing: back off.
                self._quiet_s = min(quiet_s * 2, MAX_BACKOFF_S)
            self._reconnected = False
            self._progress_at = now
            resend = [p.payload for _, p in sorted(self._unacked.items())]
            self.retransmitted_batches += len(resend)
        for payload in resend:
            self._publish(payload)

    def _publish(self, payload: bytes) -> None:
        self._client.publish(device_topic(self.spec.device_id, Topic.EVENTS), payload, qos=1)


def run_devices(load: LoadSpec) -> dict[str, Any]:
    """Drive all devices of `load` until every event is acked or the deadline; returns figures for the parent."""
    devices = [SimDevice(spec, load) for spec in load.devices]
    for device in devices:
        device.fill_outbox()
        device.connect()
    started = time.monotonic()
    deadline = started + load.deadline_s
    sent = 0
    try:
        while time.monotonic() < deadline and not all(d.done for d in devices):
            progressed = False
            for device in devices:
                device.retransmit_if_due()
                if load.rate_eps is not None and sent >= load.rate_eps * (time.monotonic() - started):
                    continue  # paced: ahead of the schedule
                if device.can_send():
                    sent += device.send_next()
                    progressed = True
            if not progressed:
                time.sleep(0.002)
    finally:
        for device in devices:
            device.close()
    return {
        "devices": len(devices),
        "events_sent_first_time": sent,
        "acked": {d.spec.device_id: d.acked for d in devices},
        "complete": all(d.done for d in devices),
        "retransmitted_batches": sum(d.retransmitted_batches for d in devices),
        "latencies_s": [x for d in devices for x in d.latencies_s],
        "elapsed_s": time.monotonic() - started,
    }
