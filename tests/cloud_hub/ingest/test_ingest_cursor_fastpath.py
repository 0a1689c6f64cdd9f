"""The in-order fast path of the ack cursor: only a gap-free run above the cursor with nothing pending skips
seq_pending; everything else takes the general path."""

from __future__ import annotations

from datetime import UTC, datetime

from cityops.contract.messages import Event, new_event_id
from cloud_hub.ingest.storage import contiguous_advance
from cloud_hub.ingest.validation import ValidEvent

TS = datetime(2026, 11, 22, tzinfo=UTC)


def _item(device_id: str, seq: int) -> ValidEvent:
    event = Event(event_id=new_event_id(), seq=seq, ts=TS, kind="k", phase="start", incident_key="i")
    return ValidEvent(device_id, event, "{}")


def test_contiguous_run_moves_the_cursor_directly() -> None:
    moved, rest = contiguous_advance({"a": 10}, set(), [_item("a", 12), _item("a", 11), _item("a", 13)])
    assert moved == {"a": 13} and rest == []


def test_gap_pending_or_repeat_take_the_general_path() -> None:
    gap = [_item("b", 6), _item("b", 8)]
    pending = [_item("c", 1)]
    repeat = [_item("d", 1), _item("d", 1)]  # same seq twice counts once: still the run 1..1
    moved, rest = contiguous_advance({"b": 5, "c": 0, "d": 0}, {"c"}, gap + pending + repeat)
    assert moved == {"d": 1}
    assert {i.device_id for i in rest} == {"b", "c"}
