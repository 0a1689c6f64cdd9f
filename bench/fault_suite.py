"""Fault suite: every fault kind at a configurable scale on a private stack (`bench.harness.IngestStack`), one JSON
line per fault: fault, events_sent, stored, lost, duplicated, recovery_s (the fault's end until the hub acks past
where it stood then: service is back), drain_s (the fault's end until every event is acked), fault_s (how long the
fault lasted). The short versions of the same faults run in CI as tests/reliability/.

    python -m bench.fault_suite                                  # every fault, moderate scale
    python -m bench.fault_suite --faults edge_network_outage --outage-s 600 --edge-rate 20

Counts are taken in the database (`IngestStack.tally`): sent = seqs 1..N per device, stored = distinct seqs present,
duplicated = rows beyond one per seq or event_id. Exit status 1 when any fault lost or duplicated an event.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.edge_writer import EdgeDevice, committed, record_for, spawn_writer
from bench.harness import IngestStack, mount_small_disk, split_load, start_load, unmount, wait_until
from bench.netcut import NetworkCut


@dataclass(frozen=True)
class Scale:
    devices: int = 12  # simulated devices for the hub-side faults
    events: int = 1000  # per simulated device
    down_s: float = 5.0  # how long a stopped component stays down
    outage_s: float = 60.0  # the edge's network outage
    edge_devices: int = 2  # real-outbox devices for the edge-side faults
    edge_rate: float = 20.0  # events/s each of them records
    edge_events: int = 5000  # outbox replay backlog; events the kill loop writes
    kills: int = 6
    timeout_s: float = 900.0  # liveness bound on any wait


Fault = Callable[[IngestStack, Scale, Path], dict[str, Any]]


def _recovery(stack: IngestStack, ids: list[str], level: int, since: float, timeout_s: float, total: int) -> float:
    """Seconds from `since` until the hub acks past `level`; 0 when `level` already covers all `total` events."""
    if level < total:
        wait_until("acks past the fault", lambda: stack.acked_total(ids) > level, timeout_s, interval_s=0.05)
    return time.monotonic() - since


def _hub_side(name: str, inject: Callable[[IngestStack, list[Any], Scale, str], None], **env: str) -> Fault:
    """Simulated devices at full speed against two replicas `{name}-0` and `-1`; `inject` is the fault and returns
    when it is over."""

    def run(stack: IngestStack, scale: Scale, _work: Path) -> dict[str, Any]:
        devices = stack.provision(name.replace("_", "-"), scale.devices)
        ids = [d.device_id for d in devices]
        replicas = [stack.start_worker(f"{name}-{i}", i, share_group=name, **env) for i in range(2)]
        loads = split_load(
            devices, 2, stack.broker.host, stack.broker.port, events_per_device=scale.events,
            events_per_message=10, window_events=100, retransmit_s=2.0, deadline_s=scale.timeout_s,
        )  # fmt: skip
        total = scale.devices * scale.events
        pool, futures = start_load(loads)
        try:
            wait_until("a quarter stored", lambda: stack.acked_total(ids) >= total // 4, scale.timeout_s)
            began = time.monotonic()
            inject(stack, replicas, scale, name)
            # Measured at the fault's end, not its start: acks made between the measurement and the fault biting
            # would read as a recovery.
            level, ended = stack.acked_total(ids), time.monotonic()
            recovery_s = _recovery(stack, ids, level, ended, scale.timeout_s, total)
            for future in futures:
                future.result(timeout=scale.timeout_s)
            drain_s = time.monotonic() - ended
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        stack.stop_hubs()
        figures = stack.tally(dict.fromkeys(ids, scale.events))
        return {**figures, "recovery_s": recovery_s, "drain_s": drain_s, "fault_s": ended - began}

    return run


def _kill_one(stack: IngestStack, replicas: list[Any], scale: Scale, name: str) -> None:
    replicas[0].send_signal(signal.SIGKILL)
    replicas[0].wait(timeout=30)


def _kill_all(stack: IngestStack, replicas: list[Any], scale: Scale, name: str) -> None:
    for replica in replicas:
        replica.send_signal(signal.SIGKILL)
    for replica in replicas:
        replica.wait(timeout=30)
    time.sleep(scale.down_s)
    for i in range(len(replicas)):  # same names, same client ids: their broker sessions are resumed
        stack.start_worker(f"{name}-{i}", i, share_group=name)


def _edge_devices(stack: IngestStack, prefix: str, work: Path, count: int, port: int | None = None) -> list[EdgeDevice]:
    specs = stack.provision(prefix, count)
    return [
        EdgeDevice(work / f"{s.device_id}.sqlite", s.device_id, s.password or "", stack.broker.host,
                   port or stack.broker.port)
        for s in specs
    ]  # fmt: skip


def _drain(devices: list[EdgeDevice], timeout_s: float) -> None:
    wait_until("every outbox drained", lambda: all(d.drained() for d in devices), timeout_s, interval_s=0.1)


def outbox_replay(stack: IngestStack, scale: Scale, work: Path) -> dict[str, Any]:
    """A device that recorded `edge_events` with no connection at all connects: its backlog replays in order."""
    stack.start_worker("replay", 0, share_group="replay")
    devices = _edge_devices(stack, "replay", work, 1)
    for _ in range(scale.edge_events):
        devices[0].record()
    ended = time.monotonic()
    try:
        for device in devices:
            device.start()
        wait_until("first ack", lambda: devices[0].sender.acked_seq > 0, scale.timeout_s, interval_s=0.05)
        recovery_s = time.monotonic() - ended
        _drain(devices, scale.timeout_s)
        drain_s = time.monotonic() - ended
        expected = {d.device_id: d.outbox.last_seq() for d in devices}
    finally:
        for device in devices:
            device.close()
    stack.stop_hubs()
    return {**stack.tally(expected), "recovery_s": recovery_s, "drain_s": drain_s, "fault_s": None}


def edge_network_outage(stack: IngestStack, scale: Scale, work: Path) -> dict[str, Any]:
    """The devices' uplink cut for `outage_s` while they record at `edge_rate`."""
    stack.start_worker("outage", 0, share_group="outage")
    uplink = NetworkCut(stack.broker.host, stack.broker.port)
    devices = _edge_devices(stack, "outage", work, scale.edge_devices, uplink.port)
    ids = [d.device_id for d in devices]
    try:
        for device in devices:
            device.start()
        record_for(devices, 3.0, scale.edge_rate)
        began = time.monotonic()
        uplink.cut()
        record_for(devices, scale.outage_s, scale.edge_rate)
        held = sum(d.outbox.depth() for d in devices)
        level = stack.acked_total(ids)
        uplink.restore()
        ended = time.monotonic()
        record_for(devices, 3.0, scale.edge_rate)
        recorded = sum(d.outbox.last_seq() for d in devices)
        recovery_s = _recovery(stack, ids, level, ended, scale.timeout_s, recorded)
        _drain(devices, scale.timeout_s)
        drain_s = time.monotonic() - ended
        expected = {d.device_id: d.outbox.last_seq() for d in devices}
    finally:
        for device in devices:
            device.close()
        uplink.close()
    stack.stop_hubs()
    return {**stack.tally(expected), "recovery_s": recovery_s, "drain_s": drain_s, "fault_s": ended - began,
            "held_at_restore": held}  # fmt: skip


def edge_kill_loop(stack: IngestStack, scale: Scale, work: Path) -> dict[str, Any]:
    """The process writing the real outbox (at `edge_rate` x 10) killed -9 `kills` times at random moments."""
    (spec,) = stack.provision("edgekill", 1)
    stack.start_worker("edgekill", 0, share_group="edgekill")
    where = (spec.device_id, spec.password or "", stack.broker.host, stack.broker.port)
    rate = scale.edge_rate * 10
    rng, kills, began = random.Random(), 0, time.monotonic()
    for _ in range(scale.kills):
        before = len(committed(work))
        writer = spawn_writer(work, *where, scale.edge_events, rate)
        wait_until("the writer recording", lambda b=before, w=writer: len(committed(work)) > b or w.poll() is not None,
                   scale.timeout_s)  # fmt: skip
        time.sleep(rng.uniform(0.0, 1.5))  # a random moment: mid-append, mid-send or mid-ack
        if writer.poll() is not None:
            break
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        kills += 1
    level, ended = stack.acked_total([spec.device_id]), time.monotonic()
    final = spawn_writer(work, *where, scale.edge_events, rate)
    recovery_s = _recovery(stack, [spec.device_id], level, ended, scale.timeout_s, scale.edge_events)
    code = final.wait(timeout=scale.timeout_s)
    drain_s = time.monotonic() - ended
    stack.stop_hubs()
    return {**stack.tally({spec.device_id: scale.edge_events}), "recovery_s": recovery_s, "drain_s": drain_s,
            "fault_s": ended - began, "kills": kills, "final_exit": code}  # fmt: skip


def evidence_store_full(stack: IngestStack, scale: Scale, work: Path) -> dict[str, Any]:
    """The hub's evidence directory on an 8 MB tmpfs, nearly full; pictures refused (507) until space is freed."""
    disk = work / "evidence"
    why = mount_small_disk(disk, "8m")
    if why is not None:
        return {"skipped": why}
    try:
        (disk / "filler").write_bytes(b"\0" * 7 * 1024 * 1024)
        (spec,) = stack.provision("evfull", 1, register=True)
        stack.start_worker("evfull", 0, share_group="evfull")
        hub = stack.start_api("evfull-api", CITYOPS_EVIDENCE_DIR=str(disk))
        device = EdgeDevice(
            work / "evfull.sqlite", spec.device_id, spec.password or "", stack.broker.host, stack.broker.port, hub
        ).start()
        pictures = 20
        try:
            began = time.monotonic()
            for i in range(pictures):
                picture = work / f"picture-{i}.jpg"
                picture.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(400 * 1024))
                device.record(picture)
                device.record()
            wait_until("an upload refused", lambda: device.sender.upload_failures > 0, scale.timeout_s)
            record_for([device], 5.0, scale.edge_rate)  # events without pictures go on meanwhile
            refused = device.sender.upload_failures
            (disk / "filler").unlink()
            ended = time.monotonic()
            level = stack.acked_total([spec.device_id])
            recovery_s = _recovery(stack, [spec.device_id], level, ended, scale.timeout_s, device.outbox.last_seq())
            _drain([device], scale.timeout_s)
            drain_s = time.monotonic() - ended
            last = device.outbox.last_seq()
        finally:
            device.close()
        stack.stop_hubs()
        return {**stack.tally({spec.device_id: last}), "recovery_s": recovery_s, "drain_s": drain_s,
                "fault_s": ended - began, "uploads_refused": refused}  # fmt: skip
    finally:
        unmount(disk)


FAULTS: dict[str, Fault] = {
    "replica_killed": _hub_side("replica_killed", _kill_one, CITYOPS_INGEST_SESSION_EXPIRY_S="5"),
    "all_replicas_killed": _hub_side("all_replicas_killed", _kill_all),
    "database_restart": _hub_side("database_restart", lambda st, _r, sc, _n: st.restart_database(down_s=sc.down_s)),
    "broker_restart": _hub_side("broker_restart", lambda st, _r, sc, _n: st.restart_broker(down_s=sc.down_s)),
    "outbox_replay": outbox_replay,
    "edge_kill_loop": edge_kill_loop,
    "edge_network_outage": edge_network_outage,
    "evidence_store_full": evidence_store_full,
    # Clock skew and a full disk on the edge are being built by others; they add their faults here, same shape.
}


def main(argv: list[str] | None = None) -> int:
    defaults = Scale()
    parser = argparse.ArgumentParser(
        prog="python -m bench.fault_suite", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog="faults: " + ", ".join(FAULTS),
    )  # fmt: skip
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated (default: all)")
    parser.add_argument("--devices", type=int, default=defaults.devices, help="simulated devices, hub-side faults")
    parser.add_argument("--events", type=int, default=defaults.events, help="events per simulated device")
    parser.add_argument("--down-s", type=float, default=defaults.down_s, help="seconds a stopped component is down")
    parser.add_argument("--outage-s", type=float, default=defaults.outage_s, help="edge network outage, seconds")
    parser.add_argument("--edge-devices", type=int, default=defaults.edge_devices, help="real-outbox devices")
    parser.add_argument("--edge-rate", type=float, default=defaults.edge_rate, help="events/s per edge device")
    parser.add_argument("--edge-events", type=int, default=defaults.edge_events, help="replay backlog, kill loop")
    parser.add_argument("--kills", type=int, default=defaults.kills, help="kill -9 of the edge writer")
    parser.add_argument("--timeout-s", type=float, default=defaults.timeout_s, help="liveness bound on any wait")
    parser.add_argument("--database", choices=["auto", "timescaledb", "postgres"], default="auto")
    args = parser.parse_args(argv)
    chosen = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown}; choose from {', '.join(FAULTS)}")
    scale = Scale(args.devices, args.events, args.down_s, args.outage_s, args.edge_devices, args.edge_rate,
                  args.edge_events, args.kills, args.timeout_s)  # fmt: skip

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the private stack's servers on the way out
    failed = False
    with tempfile.TemporaryDirectory(prefix="cityops-faults-") as tmp:
        stack = IngestStack(Path(tmp), args.database)
        try:
            for name in chosen:
                work = Path(tmp) / name
                work.mkdir()
                started = time.monotonic()
                try:
                    result = FAULTS[name](stack, scale, work)
                except Exception as exc:  # one fault's failure is a result too; the others still run
                    stack.stop_hubs()
                    result = {"error": f"{type(exc).__name__}: {exc}"}
                line = {"fault": name, **_rounded(result), "elapsed_s": round(time.monotonic() - started, 1)}
                failed |= bool(result.get("lost") or result.get("duplicated") or "error" in result)
                print(json.dumps(line), flush=True)
        finally:
            stack.close()
    return 1 if failed else 0


def _rounded(result: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}


if __name__ == "__main__":
    sys.exit(main())
