"""Hub ingest benchmark: `python -m bench.ingest_bench [--events N] [--devices D] [--database auto|postgres]`.

One private stack (database server + Mosquitto with dynamic security, loopback, free ports), then in this order,
each phase printed as one JSON line:
  broker_ceiling  provisioned devices publish the same batches at QoS 1 to a plain subscriber (no hub)
  copy_ceiling    the same event rows COPYed straight into a table like `events` (same indexes), no hub
  hub_sustained   1 worker, then 2 workers: devices with outbox-style windows and retransmission, as fast as
                  the hub acks; events/s = events acked (stored, contiguous) / wall time; `box_cpu_busy` is
                  the share of the whole machine's CPU in use meanwhile (near 1: the box, not the hub, is the limit)
  hub_latency     1,000 events/s paced; publish -> commit -> ack latency p50/p99 per batch
  summary         the hub's figures as fractions of the two ceilings measured in this run
Every phase has a deadline, so the run always ends by itself.

With `--baseline DIR` (another checkout of the hub, e.g. `git archive HEAD | tar -x -C DIR`) every sustained run
is made with that code and with this checkout's, alternating on the same stack (`code`: baseline / current), and
the summary compares their medians over `--repeat` rounds: before/after figures under the same machine load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.device_sim import batch_json, event_json
from bench.harness import REPO, IngestStack, split_load, start_load
from cityops.contract.messages import format_ts, utc_now
from cityops.contract.topics import Topic, device_topic
from cloud_hub.stack.mosquitto import BrokerLimits


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def broker_ceiling(stack: IngestStack, messages: int, per_message: int) -> dict[str, Any]:
    """Messages/s through the broker alone: 2 publishers (device identities) -> 1 QoS 1 shared subscriber."""
    devices = stack.provision("ceil", 2)
    received = 0
    done = threading.Event()
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal received
        with lock:
            received += 1
            if received >= messages:
                done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-ceiling-sub", protocol=mqtt.MQTTv5)
    ep = stack.broker.hub_endpoint
    sub.username_pw_set(ep.username, ep.password)
    subscribed = threading.Event()
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect(ep.host, ep.port)
    sub.subscribe("$share/ceiling/cityops/v1/dev/+/events", qos=1)
    sub.loop_start()
    subscribed.wait(10)
    now_text = format_ts(utc_now())
    events = range(1, per_message + 1)
    payload = {d.device_id: batch_json(d.device_id, [event_json(s, now_text) for s in events]) for d in devices}
    pubs = []
    for d in devices:
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=d.device_id, protocol=mqtt.MQTTv5)
        pub.username_pw_set(d.device_id, d.password)
        pub.max_inflight_messages_set(100)
        pub.connect(ep.host, ep.port)
        pub.loop_start()
        pubs.append((d.device_id, pub))
    started = time.monotonic()
    for i in range(messages):
        device_id, pub = pubs[i % len(pubs)]
        pub.publish(device_topic(device_id, Topic.EVENTS), payload[device_id], qos=1)
    done.wait(120)
    elapsed = time.monotonic() - started
    for _, pub in pubs:
        pub.disconnect()
        pub.loop_stop()
    sub.disconnect()
    sub.loop_stop()
    return {"phase": "broker_ceiling", "messages": received, "events_per_message": per_message,
            "messages_per_s": round(received / elapsed), "events_per_s": round(received * per_message / elapsed),
            "complete": received >= messages}  # fmt: skip


def copy_ceiling(stack: IngestStack, rows: int) -> dict[str, Any]:
    """Rows/s of COPY of the same event rows into a copy of `events` (same indexes), one session."""
    now = utc_now()
    lines = []
    for seq in range(1, rows + 1):
        payload = event_json(seq, format_ts(now)).decode()
        event_id = payload[13:49]
        lines.append(
            f"ceil-copy\t{event_id}\t{seq}\t{now.isoformat()}\t{now.isoformat()}\tillegal_parking\tno_parking_zone\t"
            f"update\tbench/zone-a/track-{seq % 50}\tcam-1\tzone-a\t0.8\t\\N\t\\N\t{payload}\n"
        )
    data = "".join(lines).encode()
    with psycopg.connect(stack.db.url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_copy (LIKE events INCLUDING ALL)")
        conn.execute("TRUNCATE bench_copy")
        conn.commit()
        started = time.monotonic()
        with conn.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as copy:
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset : offset + (1 << 20)])
        conn.commit()
        elapsed = time.monotonic() - started
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return {"phase": "copy_ceiling", "rows": rows, "rows_per_s": round(rows / elapsed)}


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat (idle and iowait count as not busy)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def busy_fraction(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """Share of the machine's CPU that was busy between two `cpu_times()` readings (every process, not only ours):
    near 1.0 means the box itself was the limit, and a second worker has no core to add."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 3) if total > 0 else None


def hub_run(stack: IngestStack, label: str, workers: int, devices: int, events: int, **load: Any) -> dict[str, Any]:
    specs = stack.provision(label, devices)
    ids = [d.device_id for d in specs]
    for index in range(workers):
        stack.start_worker(f"{label}-w{index}", index, share_group=label)
    time.sleep(3.0)  # workers connected and subscribed before the clock starts
    per_device = events // devices
    loads = split_load(specs, 2, stack.broker.host, stack.broker.port, events_per_device=per_device, **load)
    started, cpu_before = time.monotonic(), cpu_times()
    pool, futures = start_load(loads)
    try:
        results = [f.result(timeout=load.get("deadline_s", 120) + 60) for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    cpu_busy = busy_fraction(cpu_before, cpu_times())
    # From the generators' first publish (after their connect) to their last ack: process start-up excluded.
    elapsed = max(r["elapsed_s"] for r in results) if results else time.monotonic() - started
    stored = stack.acked_total(ids)
    stack.stop_hubs()
    problems = stack.duplicates_and_gaps({d: per_device for d in ids})
    latencies = sorted(x for r in results for x in r["latencies_s"])
    return {
        "label": label, "workers": workers, "devices": devices, "events": per_device * devices, "stored": stored,
        "elapsed_s": round(elapsed, 2), "events_per_s": round(stored / elapsed),
        "complete": all(r["complete"] for r in results), "exactly_once": not problems,
        "retransmitted_batches": sum(r["retransmitted_batches"] for r in results),
        "latency_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "latency_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
        "box_cpu_busy": cpu_busy,
    }  # fmt: skip


def sustained_runs(stack: IngestStack, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (round, workers, code) combination; with a baseline, its run and ours alternate in each round."""
    trees = [("baseline", args.baseline), ("current", REPO)] if args.baseline else [("current", REPO)]
    results = []
    for round_ in range(args.repeat):
        for workers in (1, 2):
            for code, tree in trees:
                stack.code_dir = tree
                result = hub_run(
                    stack, f"sus{workers}-{code[0]}{round_}", workers, args.devices, args.events,
                    events_per_message=args.per_message, window_events=4 * args.per_message, retransmit_s=10.0,
                    deadline_s=240.0,
                )  # fmt: skip
                record = {"phase": "hub_sustained", "code": code, "round": round_, **result}
                emit(record)
                results.append(record)
    stack.code_dir = REPO
    return results


def median_eps(runs: list[dict[str, Any]], code: str, workers: int) -> int:
    return round(statistics.median(r["events_per_s"] for r in runs if r["code"] == code and r["workers"] == workers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--events", type=int, default=200_000, help="events per sustained run")
    parser.add_argument("--devices", type=int, default=40, help="simulated devices per sustained run")
    parser.add_argument("--per-message", type=int, default=100, help="events per MQTT message (sustained)")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of the 1,000 events/s run")
    parser.add_argument("--database", choices=["auto", "timescaledb", "postgres"], default="auto")
    parser.add_argument("--baseline", type=Path, default=None, help="another hub checkout to compare with")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of sustained runs (medians are reported)")
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "cloud_hub" / "ingest" / "worker.py").is_file():
        parser.error(f"--baseline {args.baseline}: not a hub checkout (no cloud_hub/ingest/worker.py)")
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="cityops-bench-") as tmp:
        stack = IngestStack(Path(tmp), args.database)
        try:
            emit({"phase": "stack", "database": stack.db.kind, "timescaledb": stack.db.timescaledb_version})
            # At most half the broker's per-client queue: the publishers outrun the one subscriber, and past that
            # bound Mosquitto drops QoS 1 messages to it, so a longer run would wait for messages that never come.
            ceiling_messages = min(max(200, args.events // args.per_message), BrokerLimits().max_queued_messages // 2)
            broker = broker_ceiling(stack, ceiling_messages, args.per_message)
            emit(broker)
            copy = copy_ceiling(stack, args.events)
            emit(copy)
            runs = sustained_runs(stack, args)
            total = int(1000 * args.latency_seconds)
            latency = hub_run(
                stack, "lat", 1, 50, total, events_per_message=5, window_events=200, retransmit_s=10.0,
                rate_eps=1000.0, deadline_s=args.latency_seconds + 60,
            )  # fmt: skip
            emit({"phase": "hub_latency", "rate_eps": 1000, **latency})
            current = {w: median_eps(runs, "current", w) for w in (1, 2)}
            best = max(current, key=lambda w: current[w])
            summary = {
                "phase": "summary", "hub_events_per_s": current[best], "hub_workers": best, "rounds": args.repeat,
                "fraction_of_copy_ceiling": round(current[best] / copy["rows_per_s"], 3),
                "fraction_of_broker_ceiling": round(current[best] / broker["events_per_s"], 3),
                "second_worker_gain": round(current[2] / current[1], 3),
                "latency_p50_ms": latency["latency_p50_ms"], "latency_p99_ms": latency["latency_p99_ms"],
                "all_exactly_once": all(r["exactly_once"] and r["complete"] for r in runs),
            }  # fmt: skip
            if args.baseline:
                baseline = {w: median_eps(runs, "baseline", w) for w in (1, 2)}
                summary["baseline_events_per_s"] = {str(w): baseline[w] for w in (1, 2)}
                summary["current_events_per_s"] = {str(w): current[w] for w in (1, 2)}
                summary["speedup"] = {str(w): round(current[w] / baseline[w], 2) for w in (1, 2)}
            emit(summary)
        finally:
            stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
