"""Track ids that never repeat for a camera, across agent restarts.

An incident key is `{camera}/{zone}/track-{id}`; if ids restarted at 1 after a reboot, a new car could be merged by
the hub into last week's incident. The allocator reserves ids in blocks and records the end of the reserved block
durably *before* handing any id of it out, so one small write per `block` ids is enough and a crash can only skip
ids (never reuse one).
"""

from __future__ import annotations

import threading
from typing import Protocol


class MetaStore(Protocol):
    """Durable key/value strings (the outbox's meta table implements it)."""

    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...


class TrackIdAllocator:
    def __init__(self, store: MetaStore, camera_id: str, block: int = 1000) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self.store = store
        self.key = f"track_id_reserved:{camera_id}"
        self.block = block
        self._lock = threading.Lock()
        stored = store.get_meta(self.key)
        # Everything up to the stored value may have been issued before the restart: start after it.
        self._next = (int(stored) if stored is not None else 0) + 1
        self._reserved_to = self._next - 1

    def __call__(self) -> int:
        """The next id; usable as the tracker's `id_source`."""
        with self._lock:
            if self._next > self._reserved_to:
                self._reserved_to = self._next + self.block - 1
                self.store.set_meta(self.key, str(self._reserved_to))
            value = self._next
            self._next += 1
            return value


class CountingIds:
    """In-memory ids from `first` upwards, for tools and tests that need no durability."""

    def __init__(self, first: int = 1) -> None:
        self._next = first

    def __call__(self) -> int:
        value = self._next
        self._next += 1
        return value
