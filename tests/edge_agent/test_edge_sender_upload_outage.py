"""A hub whose HTTP side is down or hanging costs the sender one failed upload per pass, not one per held picture:
events without a picture still go out, and the held pictures are tried one after another in later passes."""

from __future__ import annotations

from pathlib import Path

from edge_testkit import FakeLink, FakeUploader

from cityops.contract.messages import EventBatch, new_event_id
from cityops.contract.topics import Topic
from edge_agent.comms.evidence_upload import EvidenceUploadError
from edge_agent.comms.outbox import Outbox
from edge_agent.comms.sender import EventSender

DEVICE = "edge-test-01"


class CountingUploader(FakeUploader):
    """Counts every attempt, failed ones included (each could be a full HTTP timeout against a hanging hub)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[str] = []

    def upload(self, event_id: str, path: Path, sha256: str) -> None:
        self.attempts.append(event_id)
        super().upload(event_id, path, sha256)


def _event(**extra: object) -> dict:
    return {
        "event_id": new_event_id(),
        "ts": "2026-11-22T18:31:05.123Z",
        "kind": "illegal_parking",
        "phase": "start",
        "incident_key": f"cam-1/zone-a/track-{new_event_id()[:8]}",
        **extra,
    }


def _published(link: FakeLink) -> list[int]:
    return [e["seq"] for p in link.messages(Topic.EVENTS) for e in EventBatch.model_validate_json(p).events]


def test_one_failed_upload_per_pass_and_plain_events_still_go(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    link, uploader = FakeLink(), CountingUploader()
    sender = EventSender(DEVICE, outbox, link, uploader)
    held = []
    for i in range(4):
        picture = tmp_path / f"ev{i}.jpg"
        picture.write_bytes(b"jpeg")
        held.append(outbox.append(_event(evidence={"sha256": "c" * 64}), evidence_path=picture))
    plain = outbox.append(_event())
    uploader.fail_with = EvidenceUploadError("PUT ...: ReadTimeout")

    assert sender.pump_once() == 1
    assert len(uploader.attempts) == 1, "kept uploading after the hub had failed in this pass"
    assert _published(link) == [plain]
    assert sender.upload_failures == 1

    # The next pass tries the next held picture (the failed one waits for its backoff); still one attempt a pass.
    assert sender.pump_once() == 0
    assert len(uploader.attempts) == 2 and uploader.attempts[1] != uploader.attempts[0]

    # The hub is back: everything held goes, in seq order.
    uploader.fail_with = None
    outbox.retry_all_now()
    assert sender.pump_once() == 5
    assert _published(link)[1:] == [*held, plain]
    outbox.close()
