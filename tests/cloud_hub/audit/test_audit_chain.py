"""Chain verification (pure): which entry is named changed, removed or inserted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cloud_hub.audit.canonical import Entry, entry_hash
from cloud_hub.audit.chain import Anchor, verify_chain

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _entry(seq: int, prev_hash: str | None, detail: object, chain: str = "admin") -> Entry:
    at = T0 + timedelta(seconds=seq)
    fields = (chain, seq, at, "admin", "admin", "update", "user", f"u{seq}", detail, prev_hash)
    return Entry(*fields, entry_hash(*fields))


def _rehash(entry: Entry) -> Entry:
    fields = (entry.chain, entry.seq, entry.at, entry.actor, entry.role, entry.action, entry.entity)
    return replace(entry, hash=entry_hash(*fields, entry.entity_id, entry.detail, entry.prev_hash))


def build(n: int) -> list[Entry]:
    entries: list[Entry] = []
    for seq in range(1, n + 1):
        entries.append(_entry(seq, entries[-1].hash if entries else None, {"n": seq}))
    return entries


def test_intact_chain_reports_its_head() -> None:
    entries = build(5)
    report = verify_chain("admin", entries)
    assert report.ok and report.entries == 5
    assert (report.head_seq, report.head_hash) == (5, entries[-1].hash)
    assert verify_chain("admin", []).ok


def test_changed_content_is_named() -> None:
    entries = build(5)
    entries[2] = replace(entries[2], detail={"n": 999})
    problem = verify_chain("admin", entries).problem
    assert problem is not None and (problem.kind, problem.seq) == ("changed", 3)


def test_removed_entries_are_named_by_the_gap() -> None:
    entries = build(6)
    del entries[2:4]
    problem = verify_chain("admin", entries).problem
    assert problem is not None and (problem.kind, problem.seq) == ("removed", 3)
    assert "entries 3 to 4 are missing" in problem.message
    problem = verify_chain("admin", build(3)[1:]).problem  # the first entry gone
    assert problem is not None and (problem.kind, problem.seq) == ("removed", 1)


def test_removed_and_renumbered_is_a_broken_link() -> None:
    entries = build(6)
    del entries[2]
    renumbered = entries[:2] + [_rehash(replace(e, seq=e.seq - 1)) for e in entries[2:]]
    problem = verify_chain("admin", renumbered).problem
    assert problem is not None and (problem.kind, problem.seq) == ("removed", 3)


def test_forged_entry_appended_at_the_end_is_inserted() -> None:
    entries = build(4)
    entries.append(_entry(5, "f" * 64, {"forged": True}))
    problem = verify_chain("admin", entries).problem
    assert problem is not None and (problem.kind, problem.seq) == ("inserted", 5)


def test_forged_entry_in_the_middle_is_named() -> None:
    """A forger who renumbers the later entries (and re-hashes them) still cannot fix their prev_hash links."""
    entries = build(5)
    forged = _entry(3, entries[1].hash, {"forged": True})
    shifted = [_rehash(replace(e, seq=e.seq + 1)) for e in entries[2:]]
    problem = verify_chain("admin", [*entries[:2], forged, *shifted]).problem
    assert problem is not None and (problem.kind, problem.seq) == ("inserted", 3)
    # (A forger who also re-links and re-hashes every later entry up to the head leaves a consistent chain: only an
    # anchor taken before shows it, see test_anchor_catches_a_cut_tail_and_a_rewritten_chain.)


def test_duplicate_seq_is_inserted() -> None:
    entries = build(3)
    problem = verify_chain("admin", [*entries[:2], _entry(2, entries[0].hash, {"other": 1}), entries[2]]).problem
    assert problem is not None and (problem.kind, problem.seq) == ("inserted", 2)


def test_anchor_catches_a_cut_tail_and_a_rewritten_chain() -> None:
    entries = build(6)
    anchor = Anchor(5, entries[4].hash)
    assert verify_chain("admin", entries, anchor).ok
    problem = verify_chain("admin", entries[:3], anchor).problem
    assert problem is not None and (problem.kind, problem.seq) == ("removed", 4)
    problem = verify_chain("admin", [], anchor).problem
    assert problem is not None and (problem.kind, problem.seq) == ("removed", 1)
    rewritten: list[Entry] = []
    for e in entries:  # every entry rewritten and re-hashed: internally consistent, but not the anchored chain
        rewritten.append(_entry(e.seq, rewritten[-1].hash if rewritten else None, {"n": -e.seq}))
    problem = verify_chain("admin", rewritten, anchor).problem
    assert problem is not None and (problem.kind, problem.seq) == ("changed", 5)
