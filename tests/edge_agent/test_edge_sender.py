"""The sender's delivery rules with a fake link and uploader: no broker needed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from edge_testkit import FakeLink, FakeUploader

from cityops.contract.messages import EventBatch, new_event_id
from cityops.contract.topics import Topic
from edge_agent.comms.evidence_upload import EvidenceUploadError
from edge_agent.comms.outbox import Outbox
from edge_agent.comms.sender import EventSender

DEVICE = "edge-test-01"


def event() -> dict:
    return {
        "event_id": new_event_id(),
        "ts": "2026-11-22T18:31:05.123Z",
        "kind": "illegal_parking",
        "phase": "start",
        "incident_key": "cam-1/zone-a/track-1",
    }


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite")


def with_evidence(outbox: Outbox, tmp_path: Path) -> tuple[int, Path]:
    path = tmp_path / "ev.jpg"
    path.write_bytes(b"jpeg")
    return outbox.append({**event(), "evidence": {"sha256": "c" * 64}}, evidence_path=path), path


def published_seqs(link: FakeLink) -> list[int]:
    return [e["seq"] for p in link.messages(Topic.EVENTS) for e in EventBatch.model_validate_json(p).events]


def test_events_are_published_in_batches_and_kept_until_the_hub_acks(outbox: Outbox) -> None:
    link = FakeLink()
    sender = EventSender(DEVICE, outbox, link, FakeUploader())
    for _ in range(3):
        outbox.append(event())
    assert sender.pump_once() == 3
    assert published_seqs(link) == [1, 2, 3]
    assert link.published[0][2] == 1  # QoS 1
    assert outbox.depth() == 3  # accepted by the client (and PUBACKed) is not delivered
    assert sender.pump_once() == 0  # not due again before the retransmit timeout
    sender.on_ack(2)
    assert outbox.depth() == 1
    sender.on_connected()  # a reconnect makes the unacked one due at once
    assert sender.pump_once() == 1 and published_seqs(link)[-1] == 3


def test_event_waits_for_its_evidence_upload(outbox: Outbox, tmp_path: Path) -> None:
    link, uploader = FakeLink(), FakeUploader()
    sender = EventSender(DEVICE, outbox, link, uploader)
    seq, path = with_evidence(outbox, tmp_path)
    plain = outbox.append(event())
    uploader.fail_with = EvidenceUploadError("HTTP 503")
    assert sender.pump_once() == 1
    assert published_seqs(link) == [plain]  # the other event is not held hostage
    assert sender.upload_failures == 1
    outbox.retry_all_now()
    uploader.fail_with = None
    sender.pump_once()
    assert published_seqs(link)[1:] == [seq, plain]  # retransmitted with the now-uploaded one
    assert uploader.uploads[0][1:] == (path, "c" * 64)


def test_nothing_is_sent_while_offline_or_refused(outbox: Outbox) -> None:
    link = FakeLink(connected=False)
    sender = EventSender(DEVICE, outbox, link, FakeUploader())
    outbox.append(event())
    assert sender.pump_once() == 0
    link.connected, link.accept = True, False
    assert sender.pump_once() == 0
    link.accept = True
    assert sender.pump_once() == 1  # still due: a refused publish did not count as an attempt


def test_sender_thread_delivers_on_wake(outbox: Outbox) -> None:
    link = FakeLink()
    sender = EventSender(DEVICE, outbox, link, FakeUploader(), idle_wait_s=30)
    sender.start()
    try:
        outbox.append(event())
        sender.wake()

        deadline = time.monotonic() + 10
        while not link.messages(Topic.EVENTS) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sender.stop()
    assert published_seqs(link) == [1]
