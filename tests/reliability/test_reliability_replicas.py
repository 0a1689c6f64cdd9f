"""Kill -9 one of two hub ingest replicas under load, then all of them: every event is stored exactly once.

The killed replica's unacked messages stay in its broker session; the devices' outbox retransmission brings them
to the surviving replica, whose idempotent storage turns any repeat into a no-op. With every replica dead nobody
acks: the devices stop at their window and resend; restarted replicas (same client ids) resume their broker
sessions, and what was queued there and what the devices resend are stored once."""

from __future__ import annotations

import signal
import time

from bench.harness import IngestStack, split_load, start_load, wait_until

DEVICES = 12
EVENTS = 400
DOWN_S = 3.0  # how long no replica runs (the fault's length, not a measurement)


def test_kill_one_of_two_replicas_under_load(stack: IngestStack) -> None:
    devices = stack.provision("kill", DEVICES)
    # A short session expiry: the killed replica's broker session (and the share of messages Mosquitto keeps
    # dealing it) goes away after 5 s, so the devices' retransmissions reach the survivor within the test.
    expiry = {"CITYOPS_INGEST_SESSION_EXPIRY_S": "5"}
    victim = stack.start_worker("kill-a", share_group="kill", **expiry)
    survivor = stack.start_worker("kill-b", share_group="kill", **expiry)
    ids = [d.device_id for d in devices]
    loads = split_load(
        devices, 2, stack.broker.host, stack.broker.port,
        events_per_device=EVENTS, events_per_message=10, window_events=100, retransmit_s=2.0, deadline_s=150.0,
    )  # fmt: skip
    pool, futures = start_load(loads)
    try:
        wait_until("a quarter of the events stored", lambda: stack.acked_total(ids) >= DEVICES * EVENTS // 4, 90)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        results = [f.result(timeout=180) for f in futures]  # bounds, not timings: a loaded CI box is slow
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert survivor.poll() is None, stack.log_tail()
    assert all(r["complete"] for r in results), [r["acked"] for r in results]
    assert stack.duplicates_and_gaps({d: EVENTS for d in ids}) == {}
    assert stack.acked_total(ids) == DEVICES * EVENTS
    stack.stop_hubs()


def test_kill_all_replicas_under_load_then_restart(stack: IngestStack) -> None:
    devices = stack.provision("all", DEVICES)
    names = ["all-a", "all-b"]
    replicas = [stack.start_worker(name, index, share_group="all") for index, name in enumerate(names)]
    ids = [d.device_id for d in devices]
    loads = split_load(
        devices, 2, stack.broker.host, stack.broker.port,
        events_per_device=EVENTS, events_per_message=10, window_events=100, retransmit_s=2.0, deadline_s=150.0,
    )  # fmt: skip
    pool, futures = start_load(loads)
    try:
        wait_until("a quarter of the events stored", lambda: stack.acked_total(ids) >= DEVICES * EVENTS // 4, 90)
        for replica in replicas:
            replica.send_signal(signal.SIGKILL)
        for replica in replicas:
            replica.wait(timeout=10)
        time.sleep(DOWN_S)
        # The same names are the same client ids: each resumes its persistent session and what queued there.
        restarted = [stack.start_worker(name, index, share_group="all") for index, name in enumerate(names)]
        results = [f.result(timeout=180) for f in futures]  # bounds, not timings: a loaded CI box is slow
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert all(r.poll() is None for r in restarted), stack.log_tail()
    assert all(r["complete"] for r in results), ([r["acked"] for r in results], stack.log_tail())
    figures = stack.tally({d: EVENTS for d in ids})
    assert figures == {"events_sent": DEVICES * EVENTS, "stored": DEVICES * EVENTS, "lost": 0, "duplicated": 0}
    assert stack.acked_total(ids) == DEVICES * EVENTS
    stack.stop_hubs()
