"""Verification of one audit chain (pure): the entries in seq order in, the first problem found (if any) and the
chain's head out.

What each problem means (docs/audit.md, "Verifying"):
- `changed`: an entry's stored hash is not the hash of its content: the row was edited after it was written.
- `removed`: seq numbers jump (the missing ones are named), or an entry's prev_hash names an entry that is not
  in the chain any more (removed, the later entries renumbered), or an anchored entry is gone.
- `inserted`: seq numbers are contiguous but an entry does not chain onto the one before it: a forged entry (or
  the entry before it rewritten with a recomputed hash). Where the neighbours show which entry does not belong
  (the next one chains past it, or it chains past its predecessor), that entry is named.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain as chained
from typing import Literal

from cloud_hub.audit.canonical import Entry, recompute

ProblemKind = Literal["changed", "removed", "inserted"]


@dataclass(frozen=True, slots=True)
class Anchor:
    """A chain's head as recorded outside the database (`cityops audit head --json`)."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Problem:
    chain: str
    seq: int  # the entry named: the first changed, removed or inserted one
    kind: ProblemKind
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"chain": self.chain, "seq": self.seq, "kind": self.kind, "message": self.message}


@dataclass(slots=True)
class ChainReport:
    chain: str
    entries: int = 0
    head_seq: int | None = None
    head_hash: str | None = None
    problem: Problem | None = None
    anchored: Anchor | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, object]:
        return {
            "chain": self.chain,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "ok": self.ok,
            "problem": self.problem.as_dict() if self.problem else None,
        }


def _with_next(entries: Iterable[Entry]) -> Iterator[tuple[Entry, Entry | None]]:
    it = iter(entries)
    current = next(it, None)
    for following in chained(it, [None]):
        if current is None:
            return
        yield current, following
        current = following


def _broken_link(entry: Entry, prev: Entry | None, before_prev: Entry | None, nxt: Entry | None) -> Problem:
    """The entry's prev_hash is not the previous entry's hash (seq numbers contiguous): say which entry is wrong."""
    c, s = entry.chain, entry.seq
    if prev is None:
        return Problem(
            c,
            s,
            "removed",
            f"entry {s} is the first in the chain but names a predecessor (prev_hash "
            f"{entry.prev_hash}): the entries before it were removed and the rest renumbered",
        )
    if nxt is not None and nxt.prev_hash == prev.hash:
        return Problem(
            c,
            s,
            "inserted",
            f"entry {s} was inserted: it does not chain onto entry {prev.seq}, "
            f"and entry {nxt.seq} chains onto entry {prev.seq} past it",
        )
    if nxt is None:
        return Problem(
            c,
            s,
            "inserted",
            f"entry {s}, the last, does not chain onto entry {prev.seq} (its prev_hash "
            f"is not entry {prev.seq}'s hash): it was inserted, or entry {prev.seq} was rewritten",
        )
    if before_prev is not None and entry.prev_hash == before_prev.hash:
        return Problem(
            c,
            prev.seq,
            "inserted",
            f"entry {prev.seq} was inserted: entry {s} chains onto entry {before_prev.seq} past it",
        )
    return Problem(
        c,
        s,
        "removed",
        f"entry {s} does not chain onto entry {prev.seq}: its prev_hash names an entry "
        f"that is not in the chain (removed, the later entries renumbered; or entry {prev.seq} "
        "was rewritten)",
    )


def verify_chain(chain: str, entries: Iterable[Entry], anchor: Anchor | None = None) -> ChainReport:
    """Walk `entries` (one chain, seq order) and report the first problem; the head is the last entry read.

    With `anchor`, the anchored entry must still be there with the anchored hash (a tail cut off after the
    anchor was taken, or a chain rewritten and re-hashed from some entry on, shows there)."""
    report = ChainReport(chain, anchored=anchor)
    prev: Entry | None = None
    before_prev: Entry | None = None
    for entry, nxt in _with_next(entries):
        report.entries += 1
        report.head_seq, report.head_hash = entry.seq, entry.hash
        if report.problem is None:
            report.problem = _check(entry, prev, before_prev, nxt, anchor)
        before_prev, prev = prev, entry
    if report.problem is None and anchor is not None and (report.head_seq or 0) < anchor.seq:
        last = f"it now ends at entry {report.head_seq}" if report.head_seq else "it has no entries now"
        report.problem = Problem(
            chain,
            (report.head_seq or 0) + 1,
            "removed",
            f"entries {(report.head_seq or 0) + 1} to {anchor.seq} were removed: the anchor names entry "
            f"{anchor.seq} (hash {anchor.hash}) and {last}",
        )
    return report


def _check(
    entry: Entry, prev: Entry | None, before_prev: Entry | None, nxt: Entry | None, anchor: Anchor | None
) -> Problem | None:
    c, s = entry.chain, entry.seq
    expected = prev.seq + 1 if prev is not None else 1
    if recompute(entry) != entry.hash:
        return Problem(c, s, "changed", f"entry {s} was changed: its content no longer matches its hash {entry.hash}")
    if s > expected:
        missing = f"entry {expected} is" if s == expected + 1 else f"entries {expected} to {s - 1} are"
        return Problem(c, expected, "removed", f"{missing} missing (seq jumps from {expected - 1} to {s})")
    if s < expected:
        return Problem(c, s, "inserted", f"entry {s} appears twice: one of them was inserted")
    if entry.prev_hash != (prev.hash if prev is not None else None):
        return _broken_link(entry, prev, before_prev, nxt)
    if anchor is not None and s == anchor.seq and entry.hash != anchor.hash:
        return Problem(
            c,
            s,
            "changed",
            f"entry {s} is not the anchored one (anchored hash {anchor.hash}, now "
            f"{entry.hash}): the chain was rewritten up to here and re-hashed",
        )
    return None
