"""The ingest supervisor: restart policy (pure) and real child processes (crash loop refused, clean stop)."""

from __future__ import annotations

import sys
import threading

from cloud_hub.ingest.health_server import HealthServer, probe, serve_health, worker_port
from cloud_hub.ingest.supervisor import RestartPolicy, Supervisor, WorkerWatch


def test_policy_backs_off_then_refuses_a_loop() -> None:
    policy = RestartPolicy(max_restarts=3, window_s=60, base_delay_s=0.5, max_delay_s=1.5)
    assert [policy.next_delay(0, t) for t in (0, 1, 2)] == [0.5, 1.0, 1.5]
    assert policy.next_delay(0, 3) is None
    assert policy.next_delay(1, 3) == 0.5  # slots are independent


def test_policy_forgets_crashes_outside_the_window() -> None:
    policy = RestartPolicy(max_restarts=2, window_s=10)
    assert policy.next_delay(0, 0) is not None
    assert policy.next_delay(0, 1) is not None
    assert policy.next_delay(0, 20) == policy.base_delay_s


def test_crashing_worker_is_restarted_then_refused() -> None:
    policy = RestartPolicy(max_restarts=2, window_s=60, base_delay_s=0.05)
    supervisor = Supervisor(1, policy=policy, command=lambda i: [sys.executable, "-c", "raise SystemExit(3)"],
                            poll_s=0.05)  # fmt: skip
    assert supervisor.run(threading.Event()) == 1
    assert supervisor.restarts == 2


def test_stop_terminates_healthy_workers() -> None:
    stop = threading.Event()
    supervisor = Supervisor(2, command=lambda i: [sys.executable, "-c", "import time; time.sleep(60)"], poll_s=0.05)
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    assert supervisor.run(stop) == 0
    assert supervisor.restarts == 0 and supervisor.pids() == {}


# A worker stand-in that serves /healthz on its port: healthy, or (STUCK) alive but answering 503 for ever.
FAKE_WORKER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
status = 503 if sys.argv[2] == "stuck" else 200
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(status); self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _free_base(count: int) -> int:
    """A base port with `count` free ports after it (bound and released: good enough for a test)."""
    import socket

    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count < 65535:
            return base
    raise RuntimeError("no free port")


def test_a_stuck_worker_is_killed_and_restarted_and_the_supervisor_says_so() -> None:
    """Slot 0 answers its /healthz, slot 1 is alive but unhealthy: only slot 1 is killed and restarted, and the
    supervisor's own /healthz names it meanwhile."""
    base = _free_base(3)
    watch = WorkerWatch("127.0.0.1", base, stuck_s=0.6, grace_s=0.6, every_s=0.1)

    def command(slot: int) -> list[str]:
        return [sys.executable, "-c", FAKE_WORKER, str(worker_port(base, slot)), "stuck" if slot == 1 else "ok"]

    stop = threading.Event()
    policy = RestartPolicy(max_restarts=100, base_delay_s=0.05)
    supervisor = Supervisor(2, policy=policy, command=command, poll_s=0.05, watch=watch)
    server = HealthServer("127.0.0.1", base, supervisor.health).start()
    seen_unhealthy: list[bool] = []

    def observe() -> None:
        while not stop.wait(0.1):
            seen_unhealthy.append(not probe("127.0.0.1", base))
            if supervisor.stuck_kills >= 2:
                stop.set()

    watcher = threading.Thread(target=observe)
    watcher.start()
    threading.Timer(30, stop.set).start()  # a bound, not a timing assertion
    try:
        assert supervisor.run(stop) == 0
    finally:
        server.stop()
        watcher.join()
    assert supervisor.stuck_kills >= 2 and supervisor.restarts >= 1  # killed, restarted, killed again
    assert any(seen_unhealthy), "the supervisor's /healthz reported the stuck worker"


def test_health_server_answers_metrics_and_health() -> None:
    import urllib.request

    state = {"ok": True}
    server = HealthServer("127.0.0.1", 0, lambda: (state["ok"], {"queued": 3})).start()
    try:
        assert probe("127.0.0.1", server.port)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as answer:
            assert b"python_info" in answer.read() or answer.status == 200
        state["ok"] = False
        assert not probe("127.0.0.1", server.port)
        assert serve_health("127.0.0.1", server.port, lambda: (True, {})) is None, "a taken port is not fatal"
    finally:
        server.stop()
