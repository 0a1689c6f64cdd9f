"""A private ingest stack for the benchmark and the reliability tests: database server, Mosquitto with dynamic
security, provisioned devices, hub ingest processes, and checks of what got stored. Loopback only, on free
ports, in a temporary directory; nothing here touches the machine's own services.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import psycopg

from bench.device_sim import DeviceSpec, LoadSpec, run_devices

REPO = Path(__file__).resolve().parents[1]


class IngestStack:
    def __init__(self, tmp: Path, database_kind: str = "auto") -> None:
        from cloud_hub.stack.database import start_isolated_database
        from cloud_hub.stack.mosquitto import start_isolated_broker
        from cloud_hub.store.migrations import migrate

        self.tmp = tmp
        self.database_kind = database_kind
        self.db = start_isolated_database(tmp / "db", database_kind)  # type: ignore[arg-type]
        self.broker = start_isolated_broker(tmp / "broker")
        migrate(self.db.url)
        self.hubs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        # Where hub processes import their code from: another checkout (e.g. `git archive HEAD`) runs the same
        # load against earlier code on the same stack, for before/after figures from one run.
        self.code_dir = REPO

    # ---- services ---------------------------------------------------------------------------------------------

    def restart_database(self, down_s: float = 0.0) -> None:
        """Stop the server (fast shutdown: open transactions roll back) and start it again on the same port."""
        from cloud_hub.stack.database import start_isolated_database

        port = self.db.port
        self.db.stop(destroy=False)
        time.sleep(down_s)
        self.db = start_isolated_database(self.tmp / "db", self.database_kind, port=port)  # type: ignore[arg-type]

    def restart_broker(self, down_s: float = 0.0) -> None:
        """Stop Mosquitto and start it on the same port with the same persistence (sessions, credentials)."""
        from cloud_hub.stack.mosquitto import start_isolated_broker

        port = self.broker.port
        self.broker.stop()
        time.sleep(down_s)
        self.broker = start_isolated_broker(self.tmp / "broker", port=port)

    def provision(self, prefix: str, count: int, register: bool = False) -> list[DeviceSpec]:
        """Broker credentials for `count` devices; `register` also records them with the hub (as `cityops device
        provision` does), which its HTTP API needs (evidence uploads authenticate against the devices table)."""
        from cloud_hub.broker.dynsec import DynsecAdmin
        from cloud_hub.devices.registry import provision_device

        ids = [f"{prefix}-{i:04d}" for i in range(count)]
        with DynsecAdmin.connect(self.broker.admin_endpoint, timeout_s=10.0) as admin:
            if register:
                with psycopg.connect(self.db.url, connect_timeout=5) as conn:
                    return [DeviceSpec(d, provision_device(conn, admin, d, "edge")) for d in ids]
            specs = [DeviceSpec(d, secrets.token_urlsafe(16)) for d in ids]
            for spec in specs:
                assert spec.password is not None
                admin.provision_device(spec.device_id, spec.password)
        return specs

    # ---- hub processes ----------------------------------------------------------------------------------------

    def hub_env(self, client_id: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
        env.update(
            CITYOPS_DATABASE_URL=self.db.url,
            CITYOPS_MQTT_URL=self.broker.hub_url,
            CITYOPS_INGEST_CLIENT_ID=client_id,
            CITYOPS_RULES_DIR=str(self.code_dir / "rules"),
            CITYOPS_DB_WAIT_S="120",
            **extra,
        )
        return env

    def start_hub(self, name: str, command: list[str], **extra_env: str) -> subprocess.Popen[bytes]:
        """`command` after `python -m`, e.g. ["cityops.cli", "hub", "ingest", "--workers", "2"]."""
        log = self.tmp / f"hub-{name}.log"
        if log not in self.logs:  # a restarted replica appends to its earlier log
            self.logs.append(log)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", *command], env=self.hub_env(f"bench-{name}", **extra_env), cwd=self.code_dir,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.hubs.append(proc)
        return proc

    def start_worker(self, name: str, index: int = 0, share_group: str = "hub", **env: str) -> subprocess.Popen[bytes]:
        """One ingest worker process: the smallest complete hub ingest replica.

        Each independent scenario takes its own `share_group`: Mosquitto keeps dealing shared-subscription
        messages to the persistent session of a stopped consumer, so a finished scenario's hubs would otherwise
        swallow (until retransmission) part of the next scenario's messages."""
        return self.start_hub(
            name, ["cloud_hub.ingest.worker", "--index", str(index)], CITYOPS_SHARE_GROUP=share_group, **env
        )

    def start_api(self, name: str, **env: str) -> str:
        """An API-only hub process (`cityops hub run --no-ingest`) on a free port; returns its URL once /healthz
        answers. No periodic jobs or live relay: the faults here are about requests, not those threads."""
        import httpx

        from cloud_hub.stack.processes import free_tcp_port

        port = free_tcp_port()
        settings = {"CITYOPS_SCHEDULER": "false", "CITYOPS_LIVE": "false", **env}
        proc = self.start_hub(name, ["cityops.cli", "hub", "run", "--no-ingest", "--port", str(port)], **settings)
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"hub API {name} exited with {proc.returncode}:\n{self.log_tail()}")
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(f"hub API {name} answering", up, timeout_s=120, interval_s=0.5)
        return url

    def stop_hubs(self) -> None:
        for proc in self.hubs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.hubs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.hubs.clear()

    def close(self) -> None:
        self.stop_hubs()
        self.broker.stop()
        self.db.stop(destroy=True)

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs if p.exists())

    # ---- what got stored --------------------------------------------------------------------------------------

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db.url, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def acked_total(self, devices: Iterable[str]) -> int:
        sql = "SELECT coalesce(sum(acked_seq), 0) FROM device_seq WHERE device_id = ANY(%s)"
        rows = self.query(sql, (list(devices),))
        return int(rows[0][0])

    def duplicates_and_gaps(self, expected: dict[str, int]) -> dict[str, Any]:
        """Per device: rows stored, distinct seqs, min and max seq, against the seqs 1..N it sent."""
        rows = self.query(
            "SELECT device_id, count(*), count(DISTINCT seq), min(seq), max(seq), count(DISTINCT event_id)"
            " FROM events WHERE device_id = ANY(%s) GROUP BY device_id",
            (list(expected),),
        )
        found = {r[0]: r[1:] for r in rows}
        problems = {}
        for device_id, n in expected.items():
            got = found.get(device_id, (0, 0, None, None, 0))
            if got != (n, n, 1 if n else None, n if n else None, n):
                problems[device_id] = {"rows": got[0], "distinct_seq": got[1], "min": got[2], "max": got[3]}
        return problems

    def tally(self, expected: dict[str, int]) -> dict[str, int]:
        """The fault suite's figures, counted in the database: each device sent seqs 1..N once each (retransmissions
        are the same events again); `stored` counts distinct (device, seq) present, `lost` those absent, `duplicated`
        the rows beyond one per (device, seq) or per event_id."""
        rows = self.query(
            "SELECT device_id, count(*), count(DISTINCT seq), count(DISTINCT event_id),"
            " count(DISTINCT seq) FILTER (WHERE seq BETWEEN 1 AND x.n)"
            " FROM events JOIN unnest(%s::text[], %s::bigint[]) AS x(device_id, n) USING (device_id)"
            " GROUP BY device_id",
            (list(expected), list(expected.values())),
        )
        found = {r[0]: r[1:] for r in rows}
        sent = stored = duplicated = 0
        for device_id, n in expected.items():
            count, distinct_seq, distinct_id, in_range = found.get(device_id, (0, 0, 0, 0))
            sent += n
            stored += in_range
            duplicated += count - min(distinct_seq, distinct_id)
        return {"events_sent": sent, "stored": stored, "lost": sent - stored, "duplicated": duplicated}


def mount_small_disk(where: Path, size: str) -> str | None:
    """A size-limited tmpfs at `where` (a full disk on demand); None when mounted, else why not (needs root)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode == 0:
        return None
    return f"cannot mount a {size} tmpfs at {where} (needs root): {done.stderr.decode().strip() or done.returncode}"


def unmount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], check=True)  # busy (a process still stopping): detach now


def wait_until(what: str, probe: Callable[[], Any], timeout_s: float, interval_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


def split_load(devices: list[DeviceSpec], processes: int, host: str, port: int, **load: Any) -> list[LoadSpec]:
    """Devices dealt round-robin to `processes` generator processes; a rate is split evenly between them."""
    groups = [tuple(devices[i::processes]) for i in range(processes)]
    groups = [g for g in groups if g]
    rate = load.pop("rate_eps", None)
    per_rate = rate / len(groups) if rate else None
    return [LoadSpec(host, port, g, rate_eps=per_rate, **load) for g in groups]


def start_load(specs: list[LoadSpec]) -> tuple[ProcessPoolExecutor, list[Any]]:
    """Each LoadSpec in its own process (spawned: no inherited MQTT threads or sockets)."""
    pool = ProcessPoolExecutor(max_workers=len(specs), mp_context=get_context("spawn"))
    return pool, [pool.submit(run_devices, spec) for spec in specs]
