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
    # Long runs (bench.soak): events built as they are sent instead of all up front (memory bounded by the window),
    # and the rest of a device's traffic: a telemetry batch and a health snapshot every so many seconds.
    prebuild: bool = True
    telemetry_every_s: float | None = None
    readings_per_batch: int = 5
    health_every_s: float | None = None


def event_json(seq: int, now_text: str) -> bytes:
    """One event as compact JSON; built by hand on purpose: the generator must cost far less than the hub."""
    return (
        b'{"event_id":"%s","seq":%d,"ts":"%s","camera_id":"cam-1","kind":"illegal_parking",'
        b'"subtype":"no_parking_zone","phase":"update","incident_key":"bench/zone-a/track-%d","confidence":0.8,'
        b'"zone_id":"zone-a","bbox":[0.1,0.2,0.3,0.4],"track_id":%d,"measurements":{"dwell_s":31.5}}'
        % (new_event_id().encode(), seq, now_text.encode(), seq % 50, seq % 50)
    )


def telemetry_json(device_id: str, now_text: str, readings: int, value: float) -> bytes:
    body = b",".join(
        b'{"sensor_id":"s%d","metric":"water_level_cm","ts":"%s","value":%.1f}' % (i, now_text.encode(), value)
        for i in range(readings)
    )
    return b'{"schema":"cityops.telemetry/1","device_id":"%s","readings":[%s]}' % (device_id.encode(), body)


def health_json(device_id: str, now_text: str, uptime_s: float, outbox_depth: int) -> bytes:
    return (
        b'{"schema":"cityops.health/1","device_id":"%s","ts":"%s","uptime_s":%.0f,"agent_version":"sim",'
        b'"outbox_depth":%d,"cameras":[{"camera_id":"cam-1","status":"ok","fps":5.0}]}'
        % (device_id.encode(), now_text.encode(), uptime_s, outbox_depth)
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
    _started: float = field(default_factory=time.monotonic)
    _telemetry_at: float = 0.0
    _health_at: float = 0.0

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
        if not self.load.prebuild:
            now_text = format_ts(utc_now())
            events = [event_json(s, now_text) for s in range(first, first + n)]
        else:
            if len(self._outbox) < first + n - 1:
                self.fill_outbox()
            events = self._outbox[first - 1 : first - 1 + n]
        payload = batch_json(self.spec.device_id, events)
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

    def unacked_events(self) -> int:
        with self._lock:
            return self.next_seq - 1 - self.acked

    def side_traffic_if_due(self, now: float) -> int:
        """Telemetry (QoS 1) and health (QoS 0) when due; returns how many messages went."""
        load, sent = self.load, 0
        if load.telemetry_every_s and now >= self._telemetry_at:
            self._telemetry_at = now + load.telemetry_every_s
            payload = telemetry_json(self.spec.device_id, format_ts(utc_now()), load.readings_per_batch, now % 100)
            self._client.publish(device_topic(self.spec.device_id, Topic.TELEMETRY), payload, qos=1)
            sent += 1
        if load.health_every_s and now >= self._health_at:
            self._health_at = now + load.health_every_s
            payload = health_json(self.spec.device_id, format_ts(utc_now()), now - self._started, self.unacked_events())
            self._client.publish(device_topic(self.spec.device_id, Topic.HEALTH), payload, qos=0)
            sent += 1
        return sent

    def _publish(self, payload: bytes) -> None:
        self._client.publish(device_topic(self.spec.device_id, Topic.EVENTS), payload, qos=1)


def run_devices(load: LoadSpec, progress: Any = None, stop: Any = None) -> dict[str, Any]:
    """Drive all devices of `load` until every event is acked, the deadline, or `stop` (a multiprocessing Event)
    is set; returns figures for the parent. `progress`, a shared array of 4 integers, is kept at (events sent,
    events acked, events unacked, telemetry and health messages sent) about once a second, for a watching parent."""
    devices = [SimDevice(spec, load) for spec in load.devices]
    for device in devices:
        if load.prebuild:
            device.fill_outbox()
        device.connect()
    started = time.monotonic()
    deadline = started + load.deadline_s
    sent = side = 0
    reported_at = 0.0
    try:
        while time.monotonic() < deadline and not all(d.done for d in devices):
            if stop is not None and stop.is_set():
                break
            progressed = False
            now = time.monotonic()
            for device in devices:
                device.retransmit_if_due()
                side += device.side_traffic_if_due(now)
                if load.rate_eps is not None and sent >= load.rate_eps * (time.monotonic() - started):
                    continue  # paced: ahead of the schedule
                if device.can_send():
                    sent += device.send_next()
                    progressed = True
            if progress is not None and now - reported_at >= 1.0:
                reported_at = now
                acked = sum(d.acked for d in devices)
                progress[:] = [sent, acked, sum(d.unacked_events() for d in devices), side]
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
