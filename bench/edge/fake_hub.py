"""The hub side of the agent's link, in process: accepts published batches and acks them like the hub would.

The real hub acks after its database commit, asynchronously; here a thread acks every published batch at once,
so the agent's outbox (SQLite, fsync per commit) does all its real work: append, publish, upload, delete on ack.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from cityops.contract.topics import Topic


class AckingLink:
    def __init__(self) -> None:
        self.on_ack: Callable[[int], None] | None = None
        self.published: dict[str, int] = {}
        self._acks: queue.Queue[int | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="fake-hub-acks", daemon=True)

    def is_connected(self) -> bool:
        return True

    def publish(self, suffix: Topic, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        self.published[str(suffix)] = self.published.get(str(suffix), 0) + 1
        if suffix == Topic.EVENTS:
            # Acked from another thread: the sender publishes while it works on the outbox.
            self._acks.put(max(event["seq"] for event in json.loads(payload)["events"]))
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._acks.put(None)
        self._thread.join(5.0)

    def _run(self) -> None:
        while (seq := self._acks.get()) is not None:
            if self.on_ack is not None:
                self.on_ack(seq)


class ReadingUploader:
    """Reads each evidence file as an HTTP upload would, and counts it; the network itself is not measured."""

    def __init__(self) -> None:
        self.uploads = 0
        self.bytes = 0

    def upload(self, event_id: str, path: Path, sha256: str) -> None:
        self.bytes += len(path.read_bytes())
        self.uploads += 1
