"""The evidence thread of EventRecorder: order kept, faces blurred before writing, back-pressure when full, drain."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from edge_testkit import shared_file

from cityops.contract.messages import new_event_id
from edge_agent.comms.outbox import Outbox
from edge_agent.config import EvidenceConfig
from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.recorder import EventRecorder, EvidenceRequest

DEVICE = "edge-test-01"
TS = datetime(2026, 11, 22, 18, 31, 5, tzinfo=UTC)


def event(phase: str = "start", key: str = "cam-1/zone-a/track-1") -> dict:
    return {
        "event_id": new_event_id(),
        "ts": "2026-11-22T18:31:05.123Z",
        "kind": "illegal_parking",
        "phase": phase,
        "incident_key": key,
    }


def request(image: np.ndarray) -> EvidenceRequest:
    return EvidenceRequest(image, TS, (10.0, 10.0, 100.0, 100.0), "car start 10s", None)


class GatedBlurrer:
    """Holds the evidence thread inside `blur` until released, so a test can fill the queue deterministically."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def blur(self, image: np.ndarray) -> tuple[np.ndarray, int]:
        self.entered.set()
        assert self.release.wait(30), "the test never released the evidence thread"
        return image.copy(), 0


def stored(outbox: Outbox) -> list[dict]:
    return [json.loads(item.payload) for item in outbox.due(DEVICE)]


def gated_recorder(outbox: Outbox, tmp_path: Path, **options: int) -> tuple[GatedBlurrer, np.ndarray, EventRecorder]:
    """A background recorder whose evidence thread the test holds in `blur`, and a plain frame to record."""
    gate = GatedBlurrer()
    recorder = EventRecorder(outbox, tmp_path / "evidence", EvidenceConfig(), gate, **options)  # type: ignore[arg-type]
    return gate, np.full((120, 160, 3), 90, np.uint8), recorder


def record_tracks(recorder: EventRecorder, image: np.ndarray, count: int) -> list[dict]:
    """Queue `count` start events of different tracks, each with a picture; returns them in order."""
    events = [event(key=f"cam-1/zone-a/track-{n}") for n in range(count)]
    for e in events:
        recorder.record(e, request(image))
    return events


@pytest.fixture
def outbox(tmp_path: Path):
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


def test_background_recording_keeps_the_order_and_blurs_faces_before_writing(outbox: Outbox, tmp_path: Path) -> None:
    model = shared_file("models", "face_detection_yunet_2023mar.onnx")
    image = cv2.imread(str(shared_file("media", "coco_val2017_000000001000.jpg")))
    original = image.copy()
    recorder = EventRecorder(outbox, tmp_path / "evidence", EvidenceConfig(), FaceBlurrer(model))
    events = [event("start"), event("end", "cam-1/zone-a/track-2"), event("update")]
    # A picture, then an event without one: the second must not overtake the first into the outbox.
    assert recorder.record(events[0], request(image)) is None
    assert recorder.record(events[1], None) is None
    assert recorder.record(events[2], request(image)) is None
    assert recorder.flush(timeout_s=60)
    rows = stored(outbox)
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in events]
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert "evidence" not in rows[1] and recorder.recorded == 3 and recorder.pending() == 0
    items = outbox.due(DEVICE)
    assert items[0].evidence_path is not None and not items[0].evidence_done  # held back until uploaded
    picture = cv2.imdecode(np.frombuffer(items[0].evidence_path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    strict = FaceBlurrer(model, score_threshold=0.5)
    assert len(strict.detect(image)) >= 10 and len(strict.detect(picture)) <= 1  # written only once blurred
    assert np.array_equal(image, original)  # the camera's frame is never drawn on
    recorder.close()


def test_a_full_queue_makes_the_camera_wait_loudly_and_loses_nothing(
    outbox: Outbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gate, image, recorder = gated_recorder(outbox, tmp_path, queue_limit=1)
    events = [event(key=f"cam-1/zone-a/track-{n}") for n in range(3)]
    recorder.record(events[0], request(image))
    assert gate.entered.wait(30)  # the evidence thread holds event 0 ...
    recorder.record(events[1], request(image))  # ... event 1 fills the queue ...
    third = threading.Thread(target=recorder.record, args=(events[2], request(image)))
    with caplog.at_level(logging.WARNING, logger="edge_agent.recorder"):
        third.start()  # ... so event 2's camera thread has to wait
        while recorder.queue_full_waits == 0:
            third.join(0.01)
        assert third.is_alive() and outbox.depth() == 0
        gate.release.set()
        third.join(30)
    assert not third.is_alive()
    assert any("evidence queue full" in r.getMessage() for r in caplog.records)
    assert recorder.flush(timeout_s=30)
    assert [r["event_id"] for r in stored(outbox)] == [e["event_id"] for e in events]
    recorder.close()


def test_close_drains_the_queue_then_records_synchronously(outbox: Outbox, tmp_path: Path) -> None:
    gate, image, recorder = gated_recorder(outbox, tmp_path)
    events = record_tracks(recorder, image, 4)
    assert gate.entered.wait(30) and outbox.depth() == 0
    gate.release.set()
    recorder.close()  # the agent's stop: every queued event reaches the outbox first
    assert [r["event_id"] for r in stored(outbox)] == [e["event_id"] for e in events]
    late = event("end")
    assert recorder.record(late, request(image)) == 5  # after close: on the caller's thread, seq returned
    assert recorder.flush() and outbox.depth() == 5


def test_synchronous_mode_returns_the_seq_and_a_bad_queue_limit_is_refused(outbox: Outbox, tmp_path: Path) -> None:
    config = EvidenceConfig()
    recorder = EventRecorder(outbox, tmp_path / "evidence", config, None, background=False, faces_unblurred=True)
    assert recorder.record(event(), request(np.zeros((60, 80, 3), np.uint8))) == 1
    assert (tmp_path / "evidence").is_dir() and len(list((tmp_path / "evidence").glob("*.jpg"))) == 1
    with pytest.raises(ValueError, match="queue_limit must be at least 1"):
        EventRecorder(outbox, tmp_path / "evidence", config, None, queue_limit=0, faces_unblurred=True)


def test_a_failing_picture_is_logged_and_later_events_still_recorded(
    outbox: Outbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = EventRecorder(outbox, tmp_path / "evidence", EvidenceConfig(), None, faces_unblurred=True)
    broken = EvidenceRequest(np.zeros((0, 0, 3), np.uint8), TS, (0.0, 0.0, 1.0, 1.0), "empty", None)
    good = event(key="cam-1/zone-a/track-9")
    with caplog.at_level(logging.ERROR, logger="edge_agent.recorder"):
        recorder.record(event(), broken)
        recorder.record(good, None)
        assert recorder.flush(timeout_s=30)
    assert any("recording event" in r.getMessage() for r in caplog.records)
    assert [r["event_id"] for r in stored(outbox)] == [good["event_id"]]
    recorder.close()


def test_close_stores_events_without_pictures_rather_than_losing_them_when_rendering_is_too_slow(
    outbox: Outbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gate, image, recorder = gated_recorder(outbox, tmp_path)
    events = record_tracks(recorder, image, 4)
    assert gate.entered.wait(30)  # event 0's picture is being rendered and will not finish in time
    closing = threading.Thread(target=recorder.close, kwargs={"timeout_s": 0.2, "hurry_timeout_s": 30.0})
    with caplog.at_level(logging.ERROR, logger="edge_agent.recorder"):
        closing.start()
        while not any("without their pictures" in r.getMessage() for r in caplog.records):
            assert closing.is_alive()
            closing.join(0.05)  # until close() gives up waiting for pictures ...
        gate.release.set()  # ... and the picture in progress finishes
        closing.join(30)
    assert not closing.is_alive()
    rows = stored(outbox)
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in events]  # all kept, in order
    assert "evidence" in rows[0] and all("evidence" not in r for r in rows[1:])
    assert recorder.stored_without_picture == 3


def test_no_face_blurrer_is_refused_unless_the_box_says_so_explicitly(outbox: Outbox, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"privacy\.send_faces_unblurred is off"):
        EventRecorder(outbox, tmp_path / "evidence", EvidenceConfig(), None)
