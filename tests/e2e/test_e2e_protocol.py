"""Protocol v1 from outside, over the real broker into the real hub: bad input ends in the dead-letter table with a
reason while the good messages around it are stored and acked; a device cannot publish under another's topic."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from e2e_support import MqttDevice as Device
from e2e_support import event_batch as _batch
from e2e_support import event_dict as _event
from e2e_support import utc_ts, wait_for

pytestmark = pytest.mark.e2e


def test_bad_input_is_dead_lettered_and_good_input_around_it_is_stored(stack: Any) -> None:
    suffix = stack.database
    device = Device(stack.provision(f"proto-a-{suffix}"))
    victim = stack.provision(f"proto-b-{suffix}")
    good_1, good_2 = _event(1), _event(2)
    try:
        device.publish("events", b"{this is not json")
        device.publish("events", _batch(device.device_id, [_event(90)], schema="cityops.events/9"))
        device.publish("events", _batch(device.device_id, [good_1]))
        missing_seq = _event(91)
        del missing_seq["seq"]
        device.publish("events", _batch(device.device_id, [good_2, missing_seq]))  # one bad beside one good
        device.publish("events", _batch(device.device_id, [_event(92, padding="x" * 300_000)]))
        device.publish("events", _batch(device.device_id, [_event(93, ts=utc_ts(timedelta(hours=1)))]))
        device.publish("events", _batch(device.device_id, [_event(94, ts=utc_ts(-timedelta(days=40)))]))
        device.publish("events", _batch(victim["device_id"], [_event(95)]))  # payload names another device
        # Under another device's topic: the broker's ACL refuses it, so the hub never sees it.
        forged = device.publish("events", _batch(victim["device_id"], [_event(96)]), device_id=victim["device_id"])
        assert forged.rc == mqtt.MQTT_ERR_SUCCESS

        wait_for("the ack of the two good events", lambda: device.highest_ack() >= 2 or None, timeout_s=30)
        with psycopg.connect(stack.info["database_url"]) as conn:

            def seven_reasons() -> list[str] | None:
                rows = conn.execute(
                    "SELECT reason FROM dead_letters WHERE topic = %s", (f"cityops/v1/dev/{device.device_id}/events",)
                ).fetchall()
                conn.commit()
                return sorted(r[0] for r in rows) if len(rows) >= 7 else None

            found = wait_for("seven dead letters", seven_reasons, timeout_s=30)
            assert found == sorted(
                [
                    "not_json",
                    "unknown_schema",
                    "missing_field",
                    "oversized",
                    "ts_in_future",
                    "ts_too_old",
                    "device_mismatch",
                ]
            )
            stored = conn.execute(
                "SELECT event_id::text, seq FROM events WHERE device_id = %s ORDER BY seq", (device.device_id,)
            ).fetchall()
            assert stored == [(good_1["event_id"], 1), (good_2["event_id"], 2)]
            victim_rows = conn.execute(
                "SELECT count(*) FROM events WHERE device_id = %s", (victim["device_id"],)
            ).fetchone()[0]
            assert victim_rows == 0, "a device published under another device's topic"
            raw = conn.execute(
                "SELECT raw FROM dead_letters WHERE reason = 'not_json' AND topic = %s",
                (f"cityops/v1/dev/{device.device_id}/events",),
            ).fetchone()[0]
            assert bytes(raw) == b"{this is not json"
    finally:
        device.close()


def test_redelivered_batch_is_stored_once_and_acked_again(stack: Any) -> None:
    device = Device(stack.provision(f"proto-r-{stack.database}"))
    events = [_event(seq) for seq in range(1, 51)]
    try:
        device.publish("events", _batch(device.device_id, events[:30]))
        device.publish("events", _batch(device.device_id, events[20:]))  # overlaps 21..30
        device.publish("events", _batch(device.device_id, events))  # a whole retransmission
        wait_for("ack 50", lambda: device.highest_ack() >= 50 or None, timeout_s=30)
        with psycopg.connect(stack.info["database_url"]) as conn:
            count, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM events WHERE device_id = %s", (device.device_id,)
            ).fetchone()
        assert (count, distinct) == (50, 50)
    finally:
        device.close()
