"""A picture that can never upload must not hold its event (and with it the hub's ack) forever.

The real HttpEvidenceUploader talks to a small real HTTP server that answers like the hub's evidence route
would (201, 409, 503); the outbox is the real SQLite one, its clock a counter so backoffs pass without waiting.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from edge_testkit import FakeLink

from cityops.contract.messages import EventBatch, new_event_id
from cityops.contract.topics import Topic
from edge_agent.comms.evidence_upload import HttpEvidenceUploader, status_is_permanent
from edge_agent.comms.outbox import Outbox
from edge_agent.comms.sender import EventSender
from edge_agent.evidence.render import EvidenceImage, write_evidence

DEVICE = "edge-test-01"


class EvidenceHub:
    """Answers PUT /api/v1/evidence/{id} from a script of status codes (the last one repeats) and keeps what it
    accepted (2xx), as the hub's route does."""

    def __init__(self) -> None:
        self.script: list[int] = [201]
        self.puts: list[str] = []
        self.stored: dict[str, bytes] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event_id = self.path.rsplit("/", 1)[-1]
                hub.puts.append(event_id)
                status = hub.script.pop(0) if len(hub.script) > 1 else hub.script[0]
                if 200 <= status < 300:
                    hub.stored[event_id] = body
                answer = json.dumps({"detail": f"scripted {status}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def hub() -> Iterator[EvidenceHub]:
    hub = EvidenceHub()
    thread = threading.Thread(target=hub.server.serve_forever, daemon=True)
    thread.start()
    yield hub
    hub.server.shutdown()
    hub.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Box:
    """Outbox, link, real uploader and sender of one device, with a hub-like contiguous ack."""

    def __init__(self, tmp_path: Path, hub: EvidenceHub, max_upload_attempts: int = 5) -> None:
        self.tmp_path = tmp_path
        self.clock = Clock()
        self.outbox = Outbox(tmp_path / "outbox.sqlite", clock=self.clock, retransmit_after_s=10, max_backoff_s=300)
        self.link = FakeLink()
        self.uploader = HttpEvidenceUploader(hub.url, DEVICE, "secret", timeout_s=5)
        self.sender = EventSender(
            DEVICE, self.outbox, self.link, self.uploader, max_upload_attempts=max_upload_attempts
        )

    def record(self, picture: bool) -> int:
        event = {
            "event_id": new_event_id(),
            "ts": "2026-11-22T18:31:05.123Z",
            "kind": "illegal_parking",
            "phase": "start",
            "incident_key": f"cam-1/zone-a/track-{new_event_id()[:8]}",
        }
        if not picture:
            return self.outbox.append(event)
        data = b"\xff\xd8jpeg" + event["event_id"].encode()
        image = EvidenceImage(data=data, sha256=hashlib.sha256(data).hexdigest(), faces_blurred=0)
        path = write_evidence(self.tmp_path / "evidence", event["event_id"], image)
        return self.outbox.append({**event, "evidence": image.ref}, evidence_path=path)

    def published(self) -> dict[int, dict]:
        return {e["seq"]: e for p in self.link.messages(Topic.EVENTS) for e in EventBatch.model_validate_json(p).events}

    def hub_acks(self) -> int:
        """What the hub would ack: the highest seq below which it received every event."""
        seqs, acked = set(self.published()), 0
        while acked + 1 in seqs:
            acked += 1
        self.sender.on_ack(acked)
        return acked

    def pump_later(self, seconds: float = 301.0) -> int:
        self.clock.now += seconds  # past any backoff
        return self.sender.pump_once()

    def close(self) -> None:
        self.uploader.close()
        self.outbox.close()


@pytest.fixture
def box(tmp_path: Path, hub: EvidenceHub) -> Iterator[Box]:
    box = Box(tmp_path, hub)
    yield box
    box.close()


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        *[(code, True) for code in (400, 409, 413, 415, 422)],
        *[(code, False) for code in (401, 403, 429, 500, 502, 503, 504)],
    ],
)
def test_which_hub_answers_are_final(status: int, permanent: bool) -> None:
    assert status_is_permanent(status) is permanent


def test_picture_deleted_before_upload_sends_the_event_at_once_without_it(box: Box, hub: EvidenceHub) -> None:
    seq = box.record(picture=True)
    (path,) = box.outbox.evidence_paths()
    path.unlink()
    box.sender.pump_once()  # the upload fails for good: the event is rewritten and due at once
    box.sender.pump_once()
    event = box.published()[seq]
    assert "evidence" not in event
    assert event["evidence_missing"]["reason"] == "file_missing"
    assert event["evidence_missing"]["attempts"] == 1
    assert str(path) in event["evidence_missing"]["detail"]
    assert hub.puts == []  # nothing to send
    assert box.sender.events_without_picture == 1
    assert box.hub_acks() == seq and box.outbox.depth() == 0


def test_hub_answering_409_forever_costs_one_attempt_not_the_outbox(box: Box, hub: EvidenceHub) -> None:
    hub.script = [409]
    stuck = box.record(picture=True)
    later = [box.record(picture=False) for _ in range(3)]
    box.sender.pump_once()
    box.sender.pump_once()
    event = box.published()[stuck]
    assert event["evidence_missing"]["reason"] == "rejected"
    assert "HTTP 409" in event["evidence_missing"]["detail"]
    assert event["evidence_missing"]["attempts"] == 1
    assert len(hub.puts) == 1, "a final answer was asked again"
    assert box.hub_acks() == later[-1]  # the ack moves past the event whose picture was refused
    assert box.outbox.depth() == 0 and box.outbox.evidence_paths() == set()


def test_hub_answering_503_a_few_times_then_ok_gets_the_picture_there(box: Box, hub: EvidenceHub) -> None:
    hub.script = [503, 503, 503, 201]
    seq = box.record(picture=True)
    plain = box.record(picture=False)
    box.sender.pump_once()
    assert set(box.published()) == {plain}  # held back while the picture is retried; the other goes
    for _ in range(3):
        box.pump_later()
    event = box.published()[seq]
    assert event["evidence"]["sha256"] and "evidence_missing" not in event
    assert list(hub.stored) == [event["event_id"]] and len(hub.puts) == 4
    assert box.sender.events_without_picture == 0
    assert box.hub_acks() == plain


def test_transient_failures_are_bounded_then_the_event_goes_without_picture(tmp_path: Path, hub: EvidenceHub) -> None:
    hub.script = [503]
    box = Box(tmp_path, hub, max_upload_attempts=3)
    try:
        seq = box.record(picture=True)
        box.sender.pump_once()
        assert box.published() == {}
        for _ in range(4):  # attempts 2 and 3, then the rewritten event goes
            box.pump_later()
        event = box.published()[seq]
        assert event["evidence_missing"] == {
            "reason": "upload_failed",
            "detail": event["evidence_missing"]["detail"],
            "attempts": 3,
        }
        assert "HTTP 503" in event["evidence_missing"]["detail"]
        assert len(hub.puts) == 3
        assert box.hub_acks() == seq
    finally:
        box.close()


def test_later_events_are_not_stalled_by_a_picture_that_never_arrives(box: Box, hub: EvidenceHub) -> None:
    """The original fault: one bad picture kept the ack at seq - 1 and the outbox filled behind it."""
    hub.script = [409, 201]  # the first picture is refused, every later one accepted
    acked = []
    for round_ in range(5):
        seqs = [box.record(picture=round_ == 0 or i == 0) for i in range(4)]
        box.sender.pump_once()
        box.pump_later()
        acked.append(box.hub_acks())
        assert acked[-1] == seqs[-1], f"round {round_}: ack stuck at {acked[-1]}, events up to {seqs[-1]}"
    assert box.outbox.depth() == 0
    assert box.sender.events_without_picture == 1
    assert len(hub.stored) == 3 + 4  # round 0's other pictures, then one per later round
