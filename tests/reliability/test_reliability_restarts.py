"""Restart the database and the broker under load: every event is stored exactly once. Then a device replays
its whole outbox (the real edge Outbox) after a long outage: stored once, in seq order, and the acks drain it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.harness import IngestStack, split_load, start_load, wait_until
from cityops.contract.messages import format_ts, new_event_id, utc_now
from cityops.contract.topics import Topic, device_topic
from edge_agent.comms.outbox import Outbox, batch_payload

DEVICES = 10
EVENTS = 400
OUTBOX_EVENTS = 3000


def test_database_and_broker_restart_under_load(stack: IngestStack) -> None:
    devices = stack.provision("restart", DEVICES)
    stack.start_worker("restart-a", 0, share_group="restart")
    stack.start_worker("restart-b", 1, share_group="restart")
    ids = [d.device_id for d in devices]
    loads = split_load(
        devices, 2, stack.broker.host, stack.broker.port,
        events_per_device=EVENTS, events_per_message=10, window_events=100, retransmit_s=2.0, deadline_s=150.0,
    )  # fmt: skip
    pool, futures = start_load(loads)
    total = DEVICES * EVENTS
    try:
        wait_until("a fifth of the events stored", lambda: stack.acked_total(ids) >= total // 5, 90)
        stack.restart_database(down_s=1.0)
        before_broker = stack.acked_total(ids)
        wait_until("progress after the database restart", lambda: stack.acked_total(ids) > before_broker, 90)
        stack.restart_broker(down_s=1.0)
        results = [f.result(timeout=180) for f in futures]  # bounds, not timings: a loaded CI box is slow
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert all(r["complete"] for r in results), ([r["acked"] for r in results], stack.log_tail())
    assert stack.duplicates_and_gaps({d: EVENTS for d in ids}) == {}
    assert stack.acked_total(ids) == total
    stack.stop_hubs()


def _event(now_text: str, i: int) -> dict[str, object]:
    return {"event_id": new_event_id(), "ts": now_text, "kind": "illegal_parking", "phase": "update",
            "incident_key": f"replay/track-{i % 7}", "camera_id": "cam-1"}  # fmt: skip


def test_outbox_replay_after_long_outage_drains_in_order(stack: IngestStack, tmp_path: Path) -> None:
    (spec,) = stack.provision("replay", 1)
    outbox = Outbox(tmp_path / "outbox.sqlite", retransmit_after_s=5.0)
    now_text = format_ts(utc_now())
    for i in range(OUTBOX_EVENTS):  # written while the device had no connection at all
        outbox.append(_event(now_text, i))
    stack.start_worker("replay", 0, share_group="replay")

    acks: list[int] = []
    connected = threading.Event()

    def on_connect(client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        client.subscribe(device_topic(spec.device_id, Topic.ACK), qos=1)
        outbox.retry_all_now()
        connected.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        acked = int(orjson.loads(msg.payload)["acked_seq"])
        acks.append(acked)
        outbox.ack(acked)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=spec.device_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(spec.device_id, spec.password)
    client.on_connect, client.on_message = on_connect, on_message
    client.connect_async(stack.broker.host, stack.broker.port)
    client.loop_start()
    try:
        assert connected.wait(15)
        deadline = time.monotonic() + 45
        while outbox.depth() and time.monotonic() < deadline:  # the edge sender's loop: send what is due
            items = outbox.due(spec.device_id, max_events=200)
            if items:
                client.publish(device_topic(spec.device_id, Topic.EVENTS), batch_payload(spec.device_id, items), qos=1)
                outbox.defer([item.seq for item in items])
            else:
                time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    letters = stack.query("SELECT reason, detail FROM dead_letters WHERE device_id = %s LIMIT 3", (spec.device_id,))
    assert outbox.depth() == 0, f"outbox holds {outbox.depth()} events; acks: {acks[-5:]}; dead letters: {letters}"
    outbox.close()
    assert acks == sorted(acks) and acks[-1] == OUTBOX_EVENTS
    assert stack.duplicates_and_gaps({spec.device_id: OUTBOX_EVENTS}) == {}
    order = stack.query("SELECT seq FROM events WHERE device_id = %s ORDER BY received_at, seq", (spec.device_id,))
    assert [s for (s,) in order] == list(range(1, OUTBOX_EVENTS + 1))  # stored batch by batch in seq order
    stack.stop_hubs()
