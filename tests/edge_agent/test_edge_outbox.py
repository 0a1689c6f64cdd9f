from __future__ import annotations

import json
from pathlib import Path

import pytest

from cityops.contract.messages import MAX_EVENT_BATCH_BYTES, EventBatch, new_event_id
from edge_agent.comms.outbox import Outbox, OutboxFull, batch_payload

DEVICE = "edge-test-01"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def event(**extra) -> dict:
    return {
        "event_id": new_event_id(),
        "ts": "2026-11-22T18:31:05.123Z",
        "kind": "illegal_parking",
        "phase": "start",
        "incident_key": "cam-1/zone-a/track-1",
        **extra,
    }


def open_outbox(path: Path, clock: Clock | None = None, **kw) -> Outbox:
    return Outbox(path / "outbox.sqlite", clock=clock or Clock(), **kw)


def test_seq_starts_at_one_survives_reopen_and_never_goes_back(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    assert [box.append(event()) for _ in range(3)] == [1, 2, 3]
    box.close()
    box = open_outbox(tmp_path)
    assert box.depth() == 3
    assert [json.loads(i.payload)["seq"] for i in box.due(DEVICE)] == [1, 2, 3]
    assert box.ack(3) == 3 and box.depth() == 0
    box.close()
    box = open_outbox(tmp_path)  # empty outbox after a restart: seq still continues
    assert box.append(event()) == 4 and box.last_seq() == 4


def test_invalid_event_is_refused_and_consumes_no_seq(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    with pytest.raises(ValueError, match="phase"):
        box.append(event(phase="middle"))
    assert box.append(event()) == 1


def test_ack_deletes_up_to_n_and_their_evidence_files(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    files = []
    for i in range(4):
        f = tmp_path / f"ev{i}.jpg"
        f.write_bytes(b"jpeg")
        files.append(f)
        box.append(event(evidence={"sha256": "a" * 64, "bytes": 4}), evidence_path=f)
    assert box.ack(2) == 2
    assert [f.exists() for f in files] == [False, False, True, True]
    assert box.depth() == 2
    assert box.ack(1) == 0  # an old ack changes nothing


def test_published_events_come_due_again_with_backoff_until_acked(tmp_path: Path) -> None:
    clock = Clock()
    box = open_outbox(tmp_path, clock, retransmit_after_s=10, max_backoff_s=25)
    box.append(event())
    assert [i.seq for i in box.due(DEVICE)] == [1]
    box.defer([1])  # sent once: a PUBACK would arrive, but only the hub's ack may delete it
    assert box.due(DEVICE) == [] and box.depth() == 1
    clock.now += 10
    assert [i.seq for i in box.due(DEVICE)] == [1]
    box.defer([1])  # second attempt: 20 s
    clock.now += 19
    assert box.due(DEVICE) == []
    clock.now += 1
    box.defer([1])  # third attempt: 40 s capped at 25 s
    clock.now += 25
    assert [i.attempts for i in box.due(DEVICE)] == [3]
    box.defer([1])
    box.retry_all_now()  # reconnect
    assert [i.seq for i in box.due(DEVICE)] == [1]


def test_batches_respect_event_count_and_byte_limits(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    padding = "x" * 2000  # unknown fields are kept by the protocol: a cheap way to make big events
    for _ in range(600):
        box.append(event(note=padding))
    first = box.due(DEVICE)
    payload = batch_payload(DEVICE, first)
    assert len(payload) <= MAX_EVENT_BATCH_BYTES
    assert len(first) < 600 and len(first) >= 100
    # The next event would not have fitted.
    assert len(batch_payload(DEVICE, box.due(DEVICE, max_events=len(first) + 1))) <= MAX_EVENT_BATCH_BYTES
    batch = EventBatch.model_validate_json(payload)
    assert batch.device_id == DEVICE and [e["seq"] for e in batch.events] == list(range(1, len(first) + 1))

    small = open_outbox(tmp_path / "small")
    for _ in range(600):
        small.append(event())
    assert len(small.due(DEVICE)) == 500


def test_full_outbox_refuses_loudly(tmp_path: Path) -> None:
    box = open_outbox(tmp_path, max_events=100)
    for _ in range(100):
        box.append(event())
    with pytest.raises(OutboxFull, match="limit 100"):
        box.append(event())
    assert box.refused == 1
    box.ack(1)
    assert box.append(event()) == 101


def test_evidence_gates_and_orphans_are_pruned(tmp_path: Path) -> None:
    evidence_dir = tmp_path / "evidence"
    evidence_dir.mkdir()
    kept = evidence_dir / "a.jpg"
    kept.write_bytes(b"1")
    orphan = evidence_dir / "b.jpg"
    orphan.write_bytes(b"2")
    box = open_outbox(tmp_path)
    seq = box.append(event(evidence={"sha256": "b" * 64}), evidence_path=kept)
    (item,) = box.due(DEVICE)
    assert (item.evidence_done, item.evidence_path, item.evidence_sha256) == (False, kept, "b" * 64)
    box.mark_evidence_done(seq)
    assert box.due(DEVICE)[0].evidence_done
    assert box.prune_orphan_evidence(evidence_dir) == 1
    assert kept.exists() and not orphan.exists()


def test_meta_values_persist(tmp_path: Path) -> None:
    box = open_outbox(tmp_path)
    box.set_meta("config_version", "7")
    box.close()
    assert open_outbox(tmp_path).get_meta("config_version") == "7"
