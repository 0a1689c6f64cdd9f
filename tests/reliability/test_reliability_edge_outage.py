"""The edge's uplink goes away for a while (`CITYOPS_OUTAGE_S`, 20 s here; minutes in `python -m bench.fault_suite`)
while broker and hub stay up and the devices keep recording: their outboxes grow by everything recorded meanwhile,
and once the link is back they replay it, stored exactly once, seq contiguous.

The devices are the edge agent's real Outbox, EventSender and MqttLink (`bench.edge_writer.EdgeDevice`), behind a
relay that cuts their connections (`bench.netcut.NetworkCut`)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.edge_writer import EdgeDevice, record_for
from bench.harness import IngestStack, wait_until
from bench.netcut import NetworkCut

OUTAGE_S = float(os.environ.get("CITYOPS_OUTAGE_S", "20"))
DEVICES = 2
RATE = 20  # events/s per device: a busy camera


def test_edge_network_outage_outbox_grows_then_replays_once(one_stack: IngestStack, tmp_path: Path) -> None:
    specs = one_stack.provision("outage", DEVICES)
    one_stack.start_worker("outage", 0, share_group="outage")
    uplink = NetworkCut(one_stack.broker.host, one_stack.broker.port)
    devices = [
        EdgeDevice(tmp_path / f"{s.device_id}.sqlite", s.device_id, s.password or "", uplink.host, uplink.port).start()
        for s in specs
    ]
    try:
        record_for(devices, 2.0, RATE)
        wait_until("first acks through the link", lambda: all(d.sender.acked_seq > 0 for d in devices), 60)
        uplink.cut()
        before = [d.outbox.last_seq() for d in devices]
        record_for(devices, OUTAGE_S, RATE)
        during = [d.outbox.last_seq() - b for d, b in zip(devices, before, strict=True)]
        # Nothing recorded during the outage can have been acked: all of it is still held.
        assert all(d.outbox.depth() >= n > 0 for d, n in zip(devices, during, strict=True)), during
        assert not any(d.link.is_connected() for d in devices)
        uplink.restore()
        record_for(devices, 2.0, RATE)
        wait_until("every outbox drained", lambda: all(d.drained() for d in devices), 180)
        expected = {d.device_id: d.outbox.last_seq() for d in devices}
    finally:
        for device in devices:
            device.close()
        uplink.close()
    figures = one_stack.tally(expected)
    total = sum(expected.values())
    assert figures == {"events_sent": total, "stored": total, "lost": 0, "duplicated": 0}
    assert one_stack.duplicates_and_gaps(expected) == {}
    one_stack.stop_hubs()
