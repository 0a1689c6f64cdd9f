"""CPU cost of the hub's ingest path per event: `python -m bench.ingest_cpu [--events N] [--baseline DIR]`.

The sustained benchmark (`bench.ingest_bench`) measures events/s, which on a shared 2-core box swings with whatever
else runs. This one measures what the hub's code itself costs: the same event batches the load generator sends
go through the worker's path in one process (validation -> one transaction with COPY, cursors, incidents and
rollup markers -> commit), and it reports CPU microseconds per event of this process and of its database backend
(read from /proc, so the database server must run on this machine). CPU time moves far less with machine load
than wall time does.

With `--baseline DIR` (another checkout, e.g. `git archive HEAD | tar -x -C DIR`) the same measurement runs with
that code too, alternating rounds on the same database, and the summary gives current/baseline ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of a process on this machine, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(database_url: str, events: int, devices: int, per_message: int, batch_messages: int) -> dict[str, Any]:
    """Run in the code tree under test (its own process): the worker's validate + store path, timed."""

    from bench.device_sim import batch_json, event_json
    from cityops.contract.messages import format_ts, utc_now
    from cityops.contract.topics import Topic, device_topic
    from cloud_hub.core.config import HubSettings
    from cloud_hub.dispatch.directory import GridDirectory
    from cloud_hub.ingest.processors import build_processors
    from cloud_hub.ingest.storage import store_batch
    from cloud_hub.ingest.validation import ValidationLimits, validate_message
    from cloud_hub.rules.loader import RulesStore
    from cloud_hub.store.capabilities import detect_capabilities
    from cloud_hub.store.db import create_pool

    settings = HubSettings(database_url=database_url, rules_dir=REPO / "rules")
    pool = create_pool(settings, min_size=1, max_size=2)
    pool.wait(timeout=30.0)
    with pool.connection() as conn:
        grids = GridDirectory.load(conn)
        capabilities = detect_capabilities(conn)
    wired = build_processors(settings, pool, grids, RulesStore.from_settings_dir(settings.rules_dir), capabilities)
    limits = ValidationLimits()
    run = f"cpu{time.time_ns() % 10**9}"
    device_ids = [f"{run}-{i:03d}" for i in range(devices)]
    per_device = events // devices
    now_text = format_ts(utc_now())
    messages = []  # (topic, payload), interleaved across devices like the broker delivers them
    for first in range(1, per_device + 1, per_message):
        last = min(per_device, first + per_message - 1)
        for device_id in device_ids:
            payload = batch_json(device_id, [event_json(s, now_text) for s in range(first, last + 1)])
            messages.append((device_topic(device_id, Topic.EVENTS), payload))
    stored = 0
    validate_s = store_s = 0.0
    with pool.connection() as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        db0 = _proc_cpu_s(backend)
        wall0 = time.perf_counter()
        for start in range(0, len(messages), batch_messages):
            t0 = time.process_time()
            now = utc_now()
            batch = [validate_message(t, p, now, limits) for t, p in messages[start : start + batch_messages]]
            t1 = time.process_time()
            outcome = store_batch(conn, batch, wired.event_processors, now, wired.telemetry_processors)
            conn.commit()
            t2 = time.process_time()
            validate_s += t1 - t0
            store_s += t2 - t1
            stored += outcome.events_stored
        wall = time.perf_counter() - wall0
        db_s = _proc_cpu_s(backend) - db0
    pool.close()
    if stored != per_device * devices:
        raise RuntimeError(f"stored {stored} events, expected {per_device * devices}")
    return {
        "events": stored,
        "validate_us_per_event": round(validate_s / stored * 1e6, 2),
        "store_us_per_event": round(store_s / stored * 1e6, 2),
        "hub_us_per_event": round((validate_s + store_s) / stored * 1e6, 2),
        "db_us_per_event": round(db_s / stored * 1e6, 2),
        "total_us_per_event": round((validate_s + store_s + db_s) / stored * 1e6, 2),
        "wall_events_per_s": round(stored / wall),
    }


def _run_tree(tree: Path, args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    """One measurement in a fresh interpreter importing its code from `tree`."""
    code = (
        "import json, sys; from bench.ingest_cpu import measure; "
        f"print(json.dumps(measure({database_url!r}, {args.events}, {args.devices}, {args.per_message}, "
        f"{args.batch_messages})))"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measurement with {tree} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--events", type=int, default=40_000, help="events per measurement")
    parser.add_argument("--devices", type=int, default=40, help="simulated devices")
    parser.add_argument("--per-message", type=int, default=100, help="events per MQTT message")
    parser.add_argument("--batch-messages", type=int, default=50, help="messages per ingest transaction")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per code tree (medians reported)")
    parser.add_argument("--database", choices=["auto", "timescaledb", "postgres"], default="auto")
    parser.add_argument("--baseline", type=Path, default=None, help="another hub checkout to compare with")
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "cloud_hub" / "ingest" / "storage.py").is_file():
        parser.error(f"--baseline {args.baseline}: not a hub checkout (no cloud_hub/ingest/storage.py)")
    if args.baseline is not None and not (args.baseline / "bench" / "ingest_cpu.py").is_file():
        # An older checkout without this file: measure it with this file's harness.
        (args.baseline / "bench" / "ingest_cpu.py").write_text(Path(__file__).read_text())
    if min(args.events, args.devices, args.per_message, args.batch_messages, args.rounds) < 1:
        parser.error("--events, --devices, --per-message, --batch-messages and --rounds must be >= 1")
    from cloud_hub.stack.database import start_isolated_database
    from cloud_hub.store.migrations import migrate

    trees = [("baseline", args.baseline), ("current", REPO)] if args.baseline else [("current", REPO)]
    results: dict[str, list[dict[str, Any]]] = {code: [] for code, _ in trees}
    with tempfile.TemporaryDirectory(prefix="cityops-cpu-") as tmp:
        db = start_isolated_database(Path(tmp) / "db", args.database)  # type: ignore[arg-type]
        try:
            migrate(db.url)
            print(json.dumps({"phase": "stack", "database": db.kind, "timescaledb": db.timescaledb_version}))
            for round_ in range(args.rounds):
                for code, tree in trees:
                    record = {"phase": "measurement", "code": code, "round": round_, **_run_tree(tree, args, db.url)}
                    print(json.dumps(record), flush=True)
                    results[code].append(record)
        finally:
            db.stop(destroy=True)
    keys = ("validate_us_per_event", "store_us_per_event", "hub_us_per_event", "db_us_per_event", "total_us_per_event")
    summary: dict[str, Any] = {"phase": "summary", "rounds": args.rounds}
    for code, runs in results.items():
        summary[code] = {k: round(statistics.median(r[k] for r in runs), 2) for k in keys}
    if args.baseline:
        summary["current_over_baseline"] = {
            k: round(summary["current"][k] / summary["baseline"][k], 3) for k in keys if summary["baseline"][k]
        }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
