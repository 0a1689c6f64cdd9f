"""Soak: city-like load for `--minutes` on a private stack (broker, database, ingest workers), sampled every
`--sample-s` seconds: RSS of every hub process (and the broker's), database size, the broker's stored-message count
($SYS), the devices' outbox depth (events sent, not yet acked) and the acked lag seen from the database. One JSON
line per sample, then a verdict line: start, end and least-squares slope of each series over the whole run and over
its last half, and `growing without bound` when a bounded series still grows in the last half faster than its
threshold (the first half is warm-up: caches, pools, the database's first chunks).

    python -m bench.soak --minutes 10                 # a quick look
    python -m bench.soak --minutes 60 --devices 500   # the hour's soak

Devices send protocol-v1 events at `--events-per-s` (all together), a telemetry batch every `--telemetry-every-s`
and a health snapshot every `--health-every-s` each, keeping every event until the hub acks it (`bench.device_sim`).
The database grows by design (retention bounds it over days), so its size is reported but not judged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.device_sim import run_devices
from bench.harness import IngestStack, split_load

MONITOR_USER = "bench-monitor"
SYS_TOPICS = ("$SYS/broker/store/messages/count", "$SYS/broker/clients/connected")


class BrokerWatch:
    """The broker's own counters ($SYS, published every 10 s by Mosquitto) through a read-only monitor identity."""

    def __init__(self, stack: IngestStack) -> None:
        from cloud_hub.broker.dynsec import DynsecAdmin

        password = secrets.token_urlsafe(16)
        acls = [{"acltype": t, "topic": "$SYS/#", "allow": True, "priority": 0}
                for t in ("subscribePattern", "publishClientReceive")]  # fmt: skip
        with DynsecAdmin.connect(stack.broker.admin_endpoint, timeout_s=10.0) as admin:
            admin.ensure_role(MONITOR_USER, acls)
            admin.ensure_client(MONITOR_USER, password, [MONITOR_USER])
        self.values: dict[str, float] = {}
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=MONITOR_USER, protocol=mqtt.MQTTv5)
        client.username_pw_set(MONITOR_USER, password)
        client.on_connect = lambda c, *_: c.subscribe([(t, 0) for t in SYS_TOPICS])
        client.on_message = self._on_message
        client.connect_async(stack.broker.host, stack.broker.port)
        client.loop_start()
        self._client = client

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with contextlib.suppress(ValueError):  # a counter this Mosquitto build does not keep
            self.values[msg.topic.rsplit("/", 2)[-2] + "_" + msg.topic.rsplit("/", 1)[-1]] = float(msg.payload)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass  # exited
    return None


def slope_per_h(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if var == 0 else sum((t - mx) * (v - my) for t, v in points) / var * 3600


def verdict(samples: list[dict[str, Any]], limits: dict[str, float]) -> dict[str, Any]:
    """Per series: start, end, slope over the run and over the last half; a bounded series (one with a limit)
    whose last-half slope exceeds its limit is `growing`."""
    series: dict[str, dict[str, Any]] = {}
    names = sorted({k for s in samples for k, v in s.items() if isinstance(v, int | float) and k != "t_s"})
    half = samples[-1]["t_s"] / 2 if samples else 0.0
    for name in names:
        points = [(s["t_s"], float(s[name])) for s in samples if isinstance(s.get(name), int | float)]
        if not points:
            continue
        late = [p for p in points if p[0] >= half]
        entry: dict[str, Any] = {
            "start": round(points[0][1], 1), "end": round(points[-1][1], 1),
            "slope_per_h": round(slope_per_h(points), 1), "slope_last_half_per_h": round(slope_per_h(late), 1),
        }  # fmt: skip
        limit = next((v for k, v in limits.items() if name.startswith(k)), None)
        if limit is not None:
            entry["limit_per_h"] = limit
            entry["growing"] = entry["slope_last_half_per_h"] > limit
        series[name] = entry
    growing = sorted(n for n, e in series.items() if e.get("growing"))
    return {"verdict": "growing without bound" if growing else "bounded", "growing": growing, "series": series}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--events-per-s", type=float, default=200.0, help="events per second, all devices together")
    parser.add_argument("--telemetry-every-s", type=float, default=10.0, help="per device (5 readings a batch)")
    parser.add_argument("--health-every-s", type=float, default=30.0, help="per device")
    parser.add_argument("--workers", type=int, default=2, help="hub ingest worker processes")
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--database", choices=["auto", "timescaledb", "postgres"], default="auto")
    parser.add_argument("--max-rss-mb-per-h", type=float, default=30.0, help="per process, last half")
    parser.add_argument("--max-depth-per-h", type=float, default=600.0, help="outbox depth / lag / broker store")
    args = parser.parse_args(argv)

    duration_s = args.minutes * 60
    per_device = int(args.events_per_s * (duration_s + 120) / args.devices) + 1000  # never runs out first
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the private stack's servers on the way out
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cityops-soak-") as tmp:
        stack = IngestStack(Path(tmp), args.database)
        ctx = get_context("spawn")
        stop = ctx.Event()
        generators: list[Any] = []
        watch: BrokerWatch | None = None
        try:
            devices = stack.provision("soak", args.devices)
            ids = [d.device_id for d in devices]
            workers = [stack.start_worker(f"soak-{i}", i, share_group="soak") for i in range(args.workers)]
            watch = BrokerWatch(stack)
            loads = split_load(
                devices, args.generators, stack.broker.host, stack.broker.port, rate_eps=args.events_per_s,
                events_per_device=per_device, events_per_message=10, window_events=200, retransmit_s=10.0,
                deadline_s=duration_s + 60, prebuild=False, telemetry_every_s=args.telemetry_every_s,
                health_every_s=args.health_every_s,
            )  # fmt: skip
            progress = [ctx.Array("q", 4, lock=False) for _ in loads]
            generators = [
                ctx.Process(target=run_devices, args=(load, p, stop)) for load, p in zip(loads, progress, strict=True)
            ]
            for generator in generators:
                generator.start()
            samples = sample(stack, workers, watch, progress, ids, duration_s, args.sample_s)
        finally:
            stop.set()
            for generator in generators:
                generator.join(timeout=60)
            if watch is not None:
                watch.close()
            stack.close()
    limits = {"rss_mb_": args.max_rss_mb_per_h, "outbox_depth": args.max_depth_per_h,
              "acked_lag": args.max_depth_per_h, "broker_store": args.max_depth_per_h}  # fmt: skip
    result = verdict(samples, limits)
    result.update(minutes=args.minutes, devices=args.devices, events_per_s=args.events_per_s,
                  load_average_before=[round(x, 2) for x in load_before],
                  load_average_after=[round(x, 2) for x in os.getloadavg()], cpus=os.cpu_count())  # fmt: skip
    print(json.dumps(result), flush=True)
    return 0 if result["verdict"] == "bounded" else 1


def sample(
    stack: IngestStack, workers: list[Any], watch: BrokerWatch, progress: list[Any], ids: list[str],
    duration_s: float, every_s: float,
) -> list[dict[str, Any]]:  # fmt: skip
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    while True:
        time.sleep(max(0.0, started + len(samples) * every_s - time.monotonic()))
        t = time.monotonic() - started
        sent, _acked, depth, side = (sum(p[i] for p in progress) for i in range(4))
        row: dict[str, Any] = {"t_s": round(t, 1)}
        for i, worker in enumerate(workers):
            row[f"rss_mb_worker{i}"] = rss_mb(worker.pid)
        row["rss_mb_broker"] = rss_mb(stack.broker.pid)
        row["db_mb"] = stack.query("SELECT pg_database_size(current_database())")[0][0] / 2**20
        row["events_sent"] = sent
        row["events_stored"] = stack.query("SELECT count(*) FROM events")[0][0]
        row["telemetry_health_sent"] = side
        row["outbox_depth"] = depth
        row["acked_lag"] = max(0, sent - stack.acked_total(ids))
        row["broker_store_messages"] = watch.values.get("messages_count")
        row["broker_clients"] = watch.values.get("clients_connected")
        row["load_1m"] = round(os.getloadavg()[0], 2)
        samples.append(row)
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        if t >= duration_s or any(w.poll() is not None for w in workers):
            break
    return samples


if __name__ == "__main__":
    sys.exit(main())
