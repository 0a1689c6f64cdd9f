"""Outbox disk quota: health/telemetry are dropped (and evicted) before events; it says so in counters and logs;
the sender publishes spooled messages once connected. Metrics expose the same figures."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from edge_testkit import FakeLink
from prometheus_client import generate_latest

from cityops.contract.messages import new_event_id
from cityops.contract.topics import Topic
from edge_agent.capture.reader import CameraStatus
from edge_agent.comms.outbox import Outbox, OutboxFull
from edge_agent.comms.sender import EventSender
from edge_agent.metrics import EdgeMetrics

MB = 1024**2


def event() -> dict:
    return {
        "event_id": new_event_id(),
        "ts": "2026-01-01T00:00:00Z",
        "kind": "illegal_parking",
        "phase": "start",
        "incident_key": "cam/zone/track-1",
    }


def evidence(tmp_path: Path, size: int) -> Path:
    path = tmp_path / f"{new_event_id()}.jpg"
    path.write_bytes(b"\xff" * size)
    return path


def test_low_priority_is_dropped_first_then_evicted_then_events_refused(tmp_path: Path, caplog) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=MB, low_priority_share=0.5)
    health = b"h" * 100_000
    assert outbox.spool("health", health) and outbox.spool("telemetry", health, qos=1)
    outbox.append(event(), evidence_path=evidence(tmp_path, 350_000))
    assert outbox.pressure() == "dropping_low_priority"  # 350 kB + 200 kB spooled > 50 % of 1 MiB
    with caplog.at_level(logging.WARNING):
        assert not outbox.spool("health", health)  # over the low-priority share: dropped, loudly
    assert outbox.dropped_low_priority == 1 and "OUTBOX FULL" in caplog.text
    # An event that needs room evicts the spooled messages (oldest first) instead of being refused.
    outbox.append(event(), evidence_path=evidence(tmp_path, 600_000))
    assert outbox.dropped_low_priority == 3 and outbox.spooled() == []
    assert outbox.depth() == 2
    with pytest.raises(OutboxFull, match="disk quota"):
        outbox.append(event(), evidence_path=evidence(tmp_path, 300_000))
    assert outbox.refused == 1 and outbox.pressure() in ("dropping_low_priority", "full")
    outbox.ack(outbox.last_seq())
    assert outbox.usage_bytes() == 0 and outbox.pressure() == "ok"


def test_spooled_health_and_telemetry_are_sent_after_events_once_connected(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.spool("health", b'{"h": 1}', 0)
    outbox.spool("telemetry", b'{"t": 1}', 1)
    outbox.append(event())
    link = FakeLink(connected=False)
    sender = EventSender("edge-1", outbox, link, uploader=None)
    assert sender.pump_once() == 0 and len(outbox.spooled()) == 2  # offline: everything stays
    link.connected = True
    assert sender.pump_once() == 1
    assert [(s, q) for s, _, q, _ in link.published] == [(Topic.EVENTS, 1), (Topic.HEALTH, 0), (Topic.TELEMETRY, 1)]
    assert outbox.spooled() == []


def test_metrics_expose_frames_inference_events_outbox_and_cameras(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=MB, low_priority_share=0.5)
    outbox.append(event())
    metrics = EdgeMetrics()
    metrics.watch(outbox, lambda: [CameraStatus("cam-1", "stalled", 0.0, 7)])
    metrics.on_frame("cam-1", 12.5)
    metrics.on_frame("cam-1", None)
    metrics.on_event("illegal_parking", "start")
    text = generate_latest(metrics.registry).decode()
    assert 'cityops_edge_frames_total{camera_id="cam-1"} 2.0' in text
    assert "cityops_edge_inference_ms_count 1.0" in text
    assert 'cityops_edge_events_total{kind="illegal_parking",phase="start"} 1.0' in text
    assert "cityops_edge_outbox_depth 1.0" in text
    assert 'cityops_edge_outbox_pressure{level="ok"} 1.0' in text
    assert 'cityops_edge_dropped_frames_total{camera_id="cam-1"} 7.0' in text
    assert 'cityops_edge_camera_state{camera_id="cam-1",state="stalled"} 1.0' in text
    assert "cityops_edge_outbox_dropped_low_priority_total 0.0" in text


def test_metrics_expose_inference_batch_sizes_when_batching(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=MB)
    unbatched, batched = EdgeMetrics(), EdgeMetrics()
    unbatched.watch(outbox, lambda: [])
    batched.watch(outbox, lambda: [], lambda: {1: 3, 4: 2})
    assert "cityops_edge_inference_batches" not in generate_latest(unbatched.registry).decode()
    text = generate_latest(batched.registry).decode()
    assert 'cityops_edge_inference_batches_total{size="1"} 3.0' in text
    assert 'cityops_edge_inference_batches_total{size="4"} 2.0' in text
