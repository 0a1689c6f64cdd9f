"""Live-push latency: `python -m bench.live_latency [--rate 1000] [--seconds 30] [--workers 1] [--database auto]`.

From a device's MQTT publish to the work order arriving on a grid officer's live stream (GET /api/v1/live), under a
steady load. One private stack (database server, Mosquitto with dynamic security; loopback, free ports), the demo
district seeded, and the hub split as in production: `--workers` ingest worker processes (MQTT -> database) and one
API process with the live relay (`cityops hub run --no-ingest`). So every message crosses processes: committed by
an ingest worker, woken by NOTIFY in the API process, filtered for officer1 and streamed.

Each event opens a new situation in officer1's grid (a new incident and a dispatched work order: the most work per
event the hub does). Per event two times are taken on this machine's clock:
  ack      publish -> the hub's ack covering it (stored and committed): the baseline, measured in the same run
  live     publish -> the `work_order` `created` message for its incident on officer1's stream
Printed as JSON lines: `stack`, then `live_latency` with p50/p99/max of both, the share of events that reached the
stream, and `live_over_ack_p99` (what the live path adds on top of storing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.harness import IngestStack, wait_until
from cityops.contract.messages import format_ts, new_event_id, utc_now
from cityops.contract.topics import Topic, device_topic
from cloud_hub.seed.demo import DEMO_GRIDS, DEMO_PASSWORD, seed_demo

JWT_SECRET = "bench-live-latency-secret-0123456789abcdef"
OFFICER = "officer1"


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Clock:
    """Publish, ack and live times per incident key."""

    published: dict[str, float] = field(default_factory=dict)
    seq_key: dict[tuple[str, int], str] = field(default_factory=dict)
    acked: dict[str, float] = field(default_factory=dict)
    live: dict[str, float] = field(default_factory=dict)
    incident_key: dict[int, str] = field(default_factory=dict)  # incident id -> key (from `incident` messages)
    lock: threading.Lock = field(default_factory=threading.Lock)


def read_stream(url: str, token: str, clock: Clock, stop: threading.Event, ready: threading.Event) -> None:
    """officer1's live stream: record when each new work order's `created` message arrives."""
    headers = {"Authorization": f"Bearer {token}"}
    params = {"topics": "incident,work_order"}
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
        client.stream("GET", f"{url}/api/v1/live", headers=headers, params=params) as r,
    ):
        r.raise_for_status()
        event = ""
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event:"):
                event = line[6:].strip()
                if event == "hello":
                    ready.set()
            elif line.startswith("data:") and event in ("incident", "work_order"):
                now = time.time()
                message = orjson.loads(line[5:])
                data = message["data"]
                with clock.lock:
                    if event == "incident" and message["op"] == "opened":
                        clock.incident_key[data["id"]] = data["incident_key"]
                    elif event == "work_order" and message["op"] == "created":
                        key = clock.incident_key.get(data["work_order"]["incident_id"])
                        if key is not None and key not in clock.live:
                            clock.live[key] = now


class Device:
    """A provisioned device publishing paced batches of new situations in officer1's grid; records its acks."""

    def __init__(self, stack: IngestStack, device_id: str, password: str, clock: Clock) -> None:
        self.device_id, self.clock, self.seq = device_id, clock, 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(device_id, password)
        self.client.max_inflight_messages_set(1000)
        self.client.on_message = self._on_ack
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_a: c.subscribe(device_topic(device_id, Topic.ACK), qos=1)
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        endpoint = stack.broker.hub_endpoint
        self.client.connect(endpoint.host, endpoint.port)
        self.acked = 0
        self.unacked: dict[int, bytes] = {}  # last seq of a message -> the message, until acked
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError(f"{device_id}: no subscription to its ack topic")

    def _on_ack(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        acked = int(orjson.loads(message.payload)["acked_seq"])
        with self.clock.lock:
            for seq in range(self.acked + 1, acked + 1):
                key = self.clock.seq_key.get((self.device_id, seq))
                if key is not None:
                    self.clock.acked.setdefault(key, now)
            self.acked = max(self.acked, acked)
            for last in [s for s in self.unacked if s <= acked]:
                del self.unacked[last]

    def resend_unacked(self) -> None:
        """Retransmit what the hub has not acked (the edge outbox does this; the hub stores each event once)."""
        with self.clock.lock:
            pending = list(self.unacked.values())
        for payload in pending:
            self.client.publish(device_topic(self.device_id, Topic.EVENTS), payload, qos=1)

    def publish(self, count: int, place: tuple[float, float]) -> None:
        now_text = format_ts(utc_now())
        events, keys = [], []
        for _ in range(count):
            self.seq += 1
            key = f"bench-live/{self.device_id}/{self.seq}"
            keys.append((self.seq, key))
            events.append(
                {
                    "event_id": new_event_id(), "seq": self.seq, "ts": now_text, "kind": "illegal_parking",
                    "subtype": "no_parking_zone", "phase": "start", "incident_key": key, "confidence": 0.8,
                    "camera_id": "cam-bench", "location": {"lon": place[0], "lat": place[1]},
                    "measurements": {"dwell_s": 65.0},
                }
            )  # fmt: skip
        payload = orjson.dumps({"schema": "cityops.events/1", "device_id": self.device_id, "events": events})
        sent = time.time()
        with self.clock.lock:
            for seq, key in keys:
                self.clock.published[key] = sent
                self.clock.seq_key[(self.device_id, seq)] = key
            self.unacked[self.seq] = payload
        self.client.publish(device_topic(self.device_id, Topic.EVENTS), payload, qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_api(stack: IngestStack, port: int) -> None:
    stack.start_hub(
        "api",
        ["cityops.cli", "hub", "run", "--no-ingest", "--port", str(port)],
        CITYOPS_JWT_SECRET=JWT_SECRET,
        CITYOPS_DEMO_SEED="true",
        CITYOPS_HTTP_PORT=str(port),
        CITYOPS_EVIDENCE_DIR=str(stack.tmp / "evidence"),
    )
    url = f"http://127.0.0.1:{port}"
    wait_until("the API process", lambda: _healthy(url), timeout_s=120)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run(args: argparse.Namespace, stack: IngestStack) -> dict[str, Any]:
    with psycopg.connect(stack.db.url) as conn:
        seed_demo(conn)  # grids, officers, rosters: officer1 is on duty in nj-gulou-01
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    start_api(stack, port)
    for index in range(args.workers):
        stack.start_worker(f"w{index}", index, CITYOPS_JWT_SECRET=JWT_SECRET, CITYOPS_SCHEDULER="false")
    url = f"http://127.0.0.1:{port}"
    token = httpx.post(f"{url}/api/v1/auth/token", data={"username": OFFICER, "password": DEMO_PASSWORD}).json()[
        "access_token"
    ]
    clock, stop, ready = Clock(), threading.Event(), threading.Event()
    reader = threading.Thread(target=read_stream, args=(url, token, clock, stop, ready), daemon=True)
    reader.start()
    if not ready.wait(30):
        raise RuntimeError("officer1's live stream did not open")
    specs = stack.provision("live", args.devices)
    devices = [Device(stack, s.device_id, str(s.password), clock) for s in specs]
    grid = DEMO_GRIDS[0]
    place = (round((grid.west + grid.east) / 2, 6), round((grid.south + grid.north) / 2, 6))
    # Warm-up, not counted: the ingest workers subscribe in their own time, and what is published before that is
    # dropped by the broker. One event per device, retransmitted until acked and on the stream, so the whole path
    # works before the clock runs.
    for device in devices:
        device.publish(1, place)
    deadline = time.monotonic() + 120
    while not all(d.acked >= d.seq for d in devices) or len(clock.live) < len(devices):
        if time.monotonic() > deadline:
            raise RuntimeError("warm-up: the hub did not ack and stream the first events within 120 s")
        time.sleep(2.0)
        for device in devices:
            device.resend_unacked()
    with clock.lock:
        clock.published.clear()
        clock.live.clear()
        clock.acked.clear()
    # Paced: every `tick` seconds each device sends its share of rate * tick events in one message.
    tick = 0.05
    per_message = max(1, round(args.rate * tick / len(devices)))
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < args.seconds:
        for device in devices:
            device.publish(per_message, place)
        n += 1
        delay = started + n * tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    sent_s = time.monotonic() - started
    total = len(clock.published)
    with contextlib.suppress(TimeoutError):  # what never arrived is reported as `reached_stream` < 1
        wait_until("every event to reach the stream", lambda: len(clock.live) >= total, timeout_s=args.drain_s)
    stop.set()
    for device in devices:
        device.close()
    with clock.lock:
        ack_ms = [(clock.acked[k] - t) * 1000 for k, t in clock.published.items() if k in clock.acked]
        live_ms = [(clock.live[k] - t) * 1000 for k, t in clock.published.items() if k in clock.live]
    result = {
        "phase": "live_latency",
        "rate_eps": round(total / sent_s),
        "target_rate_eps": args.rate,
        "seconds": round(sent_s, 1),
        "events": total,
        "workers": args.workers,
        "devices": args.devices,
        "events_per_message": per_message,
        "reached_stream": round(len(live_ms) / total, 4) if total else None,
        "acked": round(len(ack_ms) / total, 4) if total else None,
    }
    for name, values in (("ack", ack_ms), ("live", live_ms)):
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            v = percentile(values, q)
            result[f"{name}_{label}_ms"] = round(v, 1) if v is not None else None
        result[f"{name}_max_ms"] = round(max(values), 1) if values else None
        result[f"{name}_mean_ms"] = round(statistics.fmean(values), 1) if values else None
    if result["ack_p99_ms"] and result["live_p99_ms"]:
        result["live_over_ack_p99"] = round(result["live_p99_ms"] / result["ack_p99_ms"], 2)
    result["target_p99_met"] = result["live_p99_ms"] is not None and result["live_p99_ms"] < 1000.0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.live_latency", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second, all devices together")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the paced run")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="ingest worker processes")
    parser.add_argument("--drain-s", type=float, default=60.0, help="how long to wait for the last messages")
    parser.add_argument("--database", choices=["auto", "timescaledb", "postgres"], default="auto")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cityops-bench-live-") as tmp:
        stack = IngestStack(Path(tmp), args.database)
        try:
            emit({"phase": "stack", "database": stack.db.kind, "timescaledb": stack.db.timescaledb_version})
            emit(run(args, stack))
        except Exception:
            print(stack.log_tail(), flush=True)
            raise
        finally:
            stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
