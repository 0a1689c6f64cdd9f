"""Kill -9 the process that writes the edge's outbox, over and over at random moments while it records and sends,
restart it on the same outbox each time, then let it drain: the hub holds seqs 1..last exactly once (no gap, no
duplicate), and every event the outbox had committed is there with its own event_id.

The writer is `bench.edge_writer`: the agent's real Outbox (SQLite, WAL, synchronous=FULL), EventSender and
MqttLink, without cameras."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

from bench.edge_writer import committed, spawn_writer
from bench.harness import IngestStack, wait_until

KILLS = 4
EVENTS = 1200
RATE = 300  # events/s: each life writes a few hundred, so the kills land mid-stream and some life finishes it


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def test_edge_kill9_in_a_loop_during_writes(one_stack: IngestStack, tmp_path: Path) -> None:
    (spec,) = one_stack.provision("edgekill", 1)
    assert spec.password is not None
    one_stack.start_worker("edgekill", 0, share_group="edgekill")
    seed = int(os.environ.get("CITYOPS_FAULT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    record = tmp_path / "committed.txt"
    where = (spec.device_id, spec.password, one_stack.broker.host, one_stack.broker.port)
    kills = 0
    for _ in range(KILLS):
        before = _lines(record)
        writer = spawn_writer(tmp_path, *where, EVENTS, RATE)
        wait_until("the writer recording", lambda b=before, w=writer: _lines(record) > b or w.poll() is not None, 60)
        time.sleep(rng.uniform(0.0, 1.0))  # a random moment: mid-append, mid-send or mid-ack
        if writer.poll() is not None:
            break  # it finished everything before this kill
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        kills += 1
    final = spawn_writer(tmp_path, *where, EVENTS, RATE)
    assert final.wait(timeout=240) == 0, (tmp_path / "writer.log").read_text()[-3000:] + one_stack.log_tail()
    assert kills >= 2, f"only {kills} kills landed mid-stream (seed {seed}); the test would prove little"

    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:
        last_seq = int(db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0])
        left = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert last_seq == EVENTS and left == 0
    figures = one_stack.tally({spec.device_id: last_seq})
    assert figures == {"events_sent": EVENTS, "stored": EVENTS, "lost": 0, "duplicated": 0}, f"seed {seed}"
    stored = dict(one_stack.query("SELECT seq, event_id::text FROM events WHERE device_id = %s", (spec.device_id,)))
    assert sorted(stored) == list(range(1, EVENTS + 1)), f"seed {seed}"
    differ = {seq: eid for seq, eid in committed(tmp_path).items() if stored.get(seq) != eid}
    assert differ == {}, f"events committed to the outbox but not stored as committed (seed {seed}): {differ}"
    one_stack.stop_hubs()
