"""`cityops hub ingest --workers N`: N ingest worker processes under one supervisor.

Processes, not threads: validation and the writer are CPU-bound Python, so one process per core is what scales
on one host (hub replicas on other hosts scale further; all of them share the subscription via `$share`). Inside
each process, `CITYOPS_INGEST_WRITERS` writer threads split its devices, so one's database waits overlap another's
Python work.
The supervisor migrates the schema once, starts the workers, restarts one that dies (with backoff) and refuses a
restart loop: a worker that keeps crashing (a bad setting, a database that refuses it) stops the supervisor
with an error instead of burning CPU forever. Losing a worker never loses messages: what it had not acked is
redelivered by the broker to the other consumers of the shared subscription, and to it when it is back.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

from cityops.logs import set_role

log = logging.getLogger(__name__)

MAX_WORKERS = 64
STOP_GRACE_S = 20.0  # a worker drains up to 10 s; after this it is killed (its unacked messages are redelivered)


@dataclass
class RestartPolicy:
    """At most `max_restarts` restarts of one worker slot within `window_s`; the n-th recent restart waits
    `base_delay_s * 2**(n-1)` (capped) so a briefly unavailable dependency is not hammered."""

    max_restarts: int = 5
    window_s: float = 60.0
    base_delay_s: float = 0.5
    max_delay_s: float = 10.0
    _history: dict[int, deque[float]] = field(default_factory=dict)

    def next_delay(self, slot: int, now: float) -> float | None:
        """Record a crash of `slot` at `now`; the delay before restarting it, or None to refuse (a loop)."""
        recent = self._history.setdefault(slot, deque())
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        if len(recent) >= self.max_restarts:
            return None
        recent.append(now)
        return min(self.base_delay_s * 2 ** (len(recent) - 1), self.max_delay_s)


def worker_command(index: int) -> list[str]:
    return [sys.executable, "-m", "cloud_hub.ingest.worker", "--index", str(index), "--parent-pid", str(os.getpid())]


@dataclass(frozen=True)
class WorkerWatch:
    """Where the workers answer /healthz (`worker_port(base_port, slot)` on `host`) and how long one may fail it
    (`stuck_s`, after a start-up `grace_s`) before it is killed and restarted."""

    host: str
    base_port: int
    stuck_s: float = 60.0
    grace_s: float = 120.0
    every_s: float = 5.0


class Supervisor:
    def __init__(
        self,
        workers: int,
        *,
        policy: RestartPolicy | None = None,
        command: Callable[[int], Sequence[str]] = worker_command,
        env: dict[str, str] | None = None,
        poll_s: float = 0.2,
        watch: WorkerWatch | None = None,
    ) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}, got {workers}")
        self.workers = workers
        self.policy = policy or RestartPolicy()
        self.command = command
        self.env = env
        self.poll_s = poll_s
        self.watch = watch
        self.restarts = 0
        self.stuck_kills = 0
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._due: dict[int, float] = {}  # slot -> monotonic time of its pending restart
        self._healthy_at: dict[int, float] = {}  # slot -> when its /healthz last answered 200 (or it started)
        self._lock = threading.Lock()

    def health(self) -> tuple[bool, dict[str, object]]:
        """The supervisor's own /healthz: every slot has a running worker that is not overdue on its health."""
        now = time.monotonic()
        with self._lock:
            running = {slot for slot, proc in self._procs.items() if proc.poll() is None}
            overdue = sorted(slot for slot in running if self._overdue(slot, now))
        missing = sorted(set(range(self.workers)) - running)
        ok = not missing and not overdue
        return ok, {"workers": self.workers, "missing": missing, "unhealthy": overdue, "restarts": self.restarts}

    def _overdue(self, slot: int, now: float) -> bool:
        return self.watch is not None and now - self._healthy_at.get(slot, now) > self.watch.stuck_s

    def _watch_workers(self, stop: threading.Event) -> None:
        """Probe every worker's /healthz; kill one unhealthy for longer than `stuck_s` (the loop restarts it)."""
        from cloud_hub.ingest.health_server import probe, worker_port

        watch = self.watch
        assert watch is not None
        while not stop.wait(watch.every_s):
            with self._lock:
                procs = dict(self._procs)
            for slot, proc in procs.items():
                if proc.poll() is not None:
                    continue
                now = time.monotonic()
                if probe(watch.host, worker_port(watch.base_port, slot)):
                    with self._lock:
                        self._healthy_at[slot] = now
                elif self._overdue(slot, now):
                    log.error(
                        "ingest worker %d (pid %d) has failed its health check for over %.0f s: killing it to restart",
                        slot, proc.pid, watch.stuck_s,
                    )  # fmt: skip
                    self.stuck_kills += 1
                    proc.kill()

    def pids(self) -> dict[int, int]:
        return {slot: proc.pid for slot, proc in self._procs.items()}

    def _spawn(self, slot: int) -> None:
        # Own session: a Ctrl-C reaches the supervisor only, which then stops the workers in order.
        proc = subprocess.Popen(list(self.command(slot)), env=self.env, start_new_session=True)
        with self._lock:
            self._procs[slot] = proc
            # Start-up (database wait, rules, grids) gets its grace before the first health answer is due.
            grace = self.watch.grace_s - self.watch.stuck_s if self.watch is not None else 0.0
            self._healthy_at[slot] = time.monotonic() + max(0.0, grace)
        log.info("ingest worker %d started (pid %d)", slot, proc.pid)

    def run(self, stop: threading.Event) -> int:
        """Run until `stop` (0) or until a worker slot crashes in a loop (1). Workers are stopped either way."""
        for slot in range(self.workers):
            self._spawn(slot)
        watching = threading.Event()
        if self.watch is not None:
            threading.Thread(target=self._watch_workers, args=(watching,), name="worker-watch", daemon=True).start()
        try:
            while not stop.wait(self.poll_s):
                now = time.monotonic()
                for slot, proc in list(self._procs.items()):
                    code = proc.poll()
                    if code is None:
                        continue
                    with self._lock:
                        del self._procs[slot]
                    delay = self.policy.next_delay(slot, now)
                    if delay is None:
                        log.error(
                            "ingest worker %d exited (code %s) %d times within %.0f s: refusing a restart loop; "
                            "stopping (see the worker's log above for the cause)",
                            slot, code, self.policy.max_restarts + 1, self.policy.window_s,
                        )  # fmt: skip
                        return 1
                    log.warning("ingest worker %d exited (code %s); restarting in %.1f s", slot, code, delay)
                    self._due[slot] = now + delay
                for slot, due in list(self._due.items()):
                    if now >= due:
                        del self._due[slot]
                        self.restarts += 1
                        self._spawn(slot)
            return 0
        finally:
            watching.set()
            self._stop_all()

    def _stop_all(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for slot, proc in self._procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("ingest worker %d did not stop in %.0f s; killing it", slot, STOP_GRACE_S)
                proc.kill()
                proc.wait()
        self._procs.clear()


def ingest_command(args: argparse.Namespace) -> int:
    """`cityops hub ingest --workers N`: migrate once, then supervise N worker processes until SIGTERM/SIGINT."""
    from pydantic import ValidationError

    from cloud_hub.app import wait_for_database
    from cloud_hub.core.config import get_settings
    from cloud_hub.store.migrations import migrate

    set_role("ingest")  # logging itself is set up by `cityops`; the workers inherit its format
    workers = int(args.workers) if args.workers is not None else os.cpu_count() or 1
    if not 1 <= workers <= MAX_WORKERS:
        print(f"--workers must be 1..{MAX_WORKERS}, got {workers}", file=sys.stderr)
        return 2
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"hub settings are invalid (CITYOPS_* environment variables):\n{exc}", file=sys.stderr)
        return 2
    wait_for_database(settings.database_url, timeout_s=float(settings.db_wait_s))
    report = migrate(settings.database_url)
    if report.applied:
        log.info("migrations applied: %s", ", ".join(report.applied))
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    base = int(settings.ingest_metrics_port)
    watch = WorkerWatch(settings.http_host, base, stuck_s=float(settings.ingest_stuck_s)) if base else None
    supervisor = Supervisor(
        workers,
        policy=RestartPolicy(max_restarts=int(args.max_restarts), window_s=float(args.restart_window)),
        watch=watch,
    )
    server = None
    if base:
        from cloud_hub.ingest.health_server import serve_health

        server = serve_health(settings.http_host, base, supervisor.health)
        log.info("ingest health on :%d (/healthz, /metrics), workers on :%d-%d", base, base + 1, base + workers)
    log.info("supervising %d ingest workers", workers)
    try:
        return supervisor.run(stop)
    finally:
        if server is not None:
            server.stop()
