"""The ingest supervisor: restart policy (pure) and real child processes (crash loop refused, clean stop)."""

from __future__ import annotations

import sys
import threading

from cloud_hub.ingest.supervisor import RestartPolicy, Supervisor


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
