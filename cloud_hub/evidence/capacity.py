"""Whether an evidence store is refusing writes for lack of space: a loud, measured state (metric and /healthz),
never a silent loss. Per process: each hub replica reports what its own writes met."""

from __future__ import annotations

import threading
import time
from typing import Any

from prometheus_client import Counter, Gauge

STORE_FULL = Gauge("cityops_evidence_store_full", "1 while the evidence store refuses writes for lack of space")
FULL_REFUSALS = Counter(
    "cityops_evidence_store_full_refusals_total", "Evidence writes refused because the store had no space left"
)


class StoreCapacity:
    """`full` from the first write refused for lack of space until the next write that succeeds (space is only
    known to be back when a write proves it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.full_since: float | None = None
        self.refused = 0

    def refused_write(self) -> None:
        with self._lock:
            self.refused += 1
            if self.full_since is None:
                self.full_since = time.time()
        STORE_FULL.set(1)
        FULL_REFUSALS.inc()

    def wrote(self) -> None:
        with self._lock:
            was_full, self.full_since = self.full_since is not None, None
        if was_full:
            STORE_FULL.set(0)

    def as_dict(self, now: float) -> dict[str, Any]:
        with self._lock:
            since = self.full_since
            return {
                "full": since is not None,
                "full_for_s": round(now - since, 1) if since is not None else None,
                "refused_writes": self.refused,
            }
