"""Live-push latency: `python -m bench.live_latency [--rate 1000] [--seconds 30] [--workers 1] [--database auto]`.

From a device's MQTT publish to the work order arriving on a grid officer's live stream (GET /api/v1/live), under a
steady load. One private stack (database server, Mosquitto with dynamic security; loopback, free ports), the demo
district seeded, and the hub split as in production: `--workers` ingest worker processes (MQTT -> database) and one
API process with the live relay (`cityops hub run --no-ingest`). So every message crosses processes: committed by
an ingest worker, woken by NOTIFY in the API process, filtered for officer1 and streamed.

The load is what a city's cameras send: most events refresh situations that are already open (`update`), a share
(`--new-share`, default 5 %) open new ones, each a new incident and a dispatched work order. New situations take
places on a 32 m lattice over the six demo grids, so none is within the 30 m at which the hub merges parked cars
into one incident (rules/hub/merge.yaml); the 2,400 places last a 1,000 events/s run for about 45 s. officer1 is
on duty in one of the grids: the sixth of the situations in it are the ones timed on his stream.
Times are taken on this machine's clock:
  ack      publish -> the hub's ack covering the event (stored and committed): the baseline, in the same run
  live     publish of a new situation -> the `work_order` `created` message for it on officer1's stream
  update   publish of an update -> the `incident` `updated` message naming it as the incident's last event (updates
           of one situation in one ingest batch are folded into one message: the last event of each is timed)
Printed as JSON lines: `stack`, then `live_latency` with p50/p99/max of each, the share of new situations that
reached the stream, and `live_over_ack_p99` (what the live path adds on top of storing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
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

    published: dict[str, float] = field(default_factory=dict)  # new situation's key -> publish time
    sent: dict[str, float] = field(default_factory=dict)  # event id -> publish time (every event)
    seq_event: dict[tuple[str, int], str] = field(default_factory=dict)  # (device, seq) -> event id
    acked: dict[str, float] = field(default_factory=dict)  # event id -> ack time
    live: dict[str, float] = field(default_factory=dict)  # new situation's key -> work order on the stream
    updated: dict[str, float] = field(default_factory=dict)  # event id -> incident update on the stream
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
                    elif event == "incident" and message["op"] == "updated":
                        clock.updated.setdefault(data["last_event_id"], now)
                    elif event == "work_order" and message["op"] == "created":
                        key = clock.incident_key.get(data["work_order"]["incident_id"])
                        if key is not None and key not in clock.live:
                            clock.live[key] = now


class Places:
    """Distinct places for new situations: a 32 m lattice over the demo grids, taken in turn across the grids (so
    every grid, officer1's included, gets its share); (lon, lat) and whether it lies in officer1's grid."""

    STEP_LON, STEP_LAT = 0.00034, 0.0003  # 32 m and 33 m at Nanjing's latitude: more than merge.yaml's 30 m

    def __init__(self) -> None:
        per_grid = [self._lattice(grid) for grid in DEMO_GRIDS]
        self.points = [(point, index == 0) for row in zip(*per_grid, strict=False) for index, point in enumerate(row)]
        self.taken = 0

    @classmethod
    def _lattice(cls, grid: Any) -> list[tuple[float, float]]:
        cols = int((grid.east - grid.west) / cls.STEP_LON)
        rows = int((grid.north - grid.south) / cls.STEP_LAT)
        return [
            (round(grid.west + (c + 0.5) * cls.STEP_LON, 6), round(grid.south + (r + 0.5) * cls.STEP_LAT, 6))
            for r in range(rows)
            for c in range(cols)
        ]

    def take(self) -> tuple[tuple[float, float], bool]:
        if self.taken == len(self.points):
            raise RuntimeError(f"all {len(self.points)} places are taken: shorten the run or lower --new-share")
        self.taken += 1
        return self.points[self.taken - 1]


class Device:
    """A provisioned device publishing paced batches of new situations and updates of open ones; records its acks."""

    def __init__(self, stack: IngestStack, device_id: str, password: str, clock: Clock, places: Places) -> None:
        self.device_id, self.clock, self.seq, self.places = device_id, clock, 0, places
        self.open_keys: list[tuple[str, tuple[float, float]]] = []
        self.random = random.Random(device_id)
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
                event_id = self.clock.seq_event.get((self.device_id, seq))
                if event_id is not None:
                    self.clock.acked.setdefault(event_id, now)
            self.acked = max(self.acked, acked)
            for last in [s for s in self.unacked if s <= acked]:
                del self.unacked[last]

    def resend_unacked(self) -> None:
        """Retransmit what the hub has not acked (the edge outbox does this; the hub stores each event once)."""
        with self.clock.lock:
            pending = list(self.unacked.values())
        for payload in pending:
            self.client.publish(device_topic(self.device_id, Topic.EVENTS), payload, qos=1)

    def publish(self, count: int, new_share: float = 1.0) -> None:
        """`count` events in one message: new situations with probability `new_share`, else updates of open ones."""
        now_text = format_ts(utc_now())
        events, new_keys, ids = [], [], []
        for _ in range(count):
            self.seq += 1
            event_id = new_event_id()
            if not self.open_keys or self.random.random() < new_share:
                key, phase = f"bench-live/{self.device_id}/{self.seq}", "start"
                place, timed = self.places.take()
                self.open_keys.append((key, place))
                if timed:  # in officer1's grid: its work order comes to his stream
                    new_keys.append(key)
            else:
                (key, place), phase = self.random.choice(self.open_keys), "update"
            ids.append((self.seq, event_id))
            events.append(
                {
                    "event_id": event_id, "seq": self.seq, "ts": now_text, "kind": "illegal_parking",
                    "subtype": "no_parking_zone", "phase": phase, "incident_key": key, "confidence": 0.8,
                    "camera_id": "cam-bench", "location": {"lon": place[0], "lat": place[1]},
                    "measurements": {"dwell_s": 65.0 + self.seq % 600},
                }
            )  # fmt: skip
        payload = orjson.dumps({"schema": "cityops.events/1", "device_id": self.device_id, "events": events})
        sent = time.time()
        with self.clock.lock:
            for key in new_keys:
                self.clock.published[key] = sent
            for seq, event_id in ids:
                self.clock.sent[event_id] = sent
                self.clock.seq_event[(self.device_id, seq)] = event_id
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
    places = Places()
    devices = [Device(stack, s.device_id, str(s.password), clock, places) for s in specs]
    # Warm-up, not counted: the ingest workers subscribe in their own time, and what is published before that is
    # dropped by the broker. One event per device, retransmitted until acked and on the stream, so the whole path
    # works before the clock runs.
    for device in devices:
        device.publish(args.open_situations)  # the situations the run's updates refresh
    opened = len(clock.published)  # those in officer1's grid
    deadline = time.monotonic() + 120
    while not all(d.acked >= d.seq for d in devices) or len(clock.live) < opened:
        if time.monotonic() > deadline:
            raise RuntimeError("warm-up: the hub did not ack and stream the first events within 120 s")
        time.sleep(2.0)
        for device in devices:
            device.resend_unacked()
    with clock.lock:
        for record in (clock.published, clock.live, clock.sent, clock.acked, clock.updated):
            record.clear()
    # Paced: every `tick` seconds each device sends its share of rate * tick events in one message.
    tick = 0.05
    per_message = max(1, round(args.rate * tick / len(devices)))
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < args.seconds:
        for device in devices:
            device.publish(per_message, args.new_share)
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
        ack_ms = [(clock.acked[e] - t) * 1000 for e, t in clock.sent.items() if e in clock.acked]
        live_ms = [(clock.live[k] - t) * 1000 for k, t in clock.published.items() if k in clock.live]
        update_ms = [(clock.updated[e] - t) * 1000 for e, t in clock.sent.items() if e in clock.updated]
        events = len(clock.sent)
    result = {
        "phase": "live_latency",
        "rate_eps": round(events / sent_s),
        "target_rate_eps": args.rate,
        "seconds": round(sent_s, 1),
        "events": events,
        "new_situations": total,
        "updates_timed": len(update_ms),
        "workers": args.workers,
        "devices": args.devices,
        "events_per_message": per_message,
        "reached_stream": round(len(live_ms) / total, 4) if total else None,
        "acked": round(len(ack_ms) / events, 4) if events else None,
    }
    for name, values in (("ack", ack_ms), ("live", live_ms), ("update", update_ms)):
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
    parser.add_argument("--new-share", type=float, default=0.05, help="share of events that open a new situation")
    parser.add_argument("--open-situations", type=int, default=20, help="situations per device open before the run")
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
