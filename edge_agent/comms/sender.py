"""The sender loop: take due events from the outbox, upload their evidence, publish them as batches.

An event is published only after its picture is on the hub, so event and picture arrive together or both wait.
Published events stay in the outbox until the hub's ack; unacked ones come due again after a backoff.
"""

from __future__ import annotations

import logging
import threading

from cityops.contract.topics import Topic
from edge_agent.comms.evidence_upload import EvidenceUploader, EvidenceUploadError
from edge_agent.comms.link import Link
from edge_agent.comms.outbox import Outbox, batch_payload

log = logging.getLogger(__name__)


class EventSender:
    def __init__(
        self,
        device_id: str,
        outbox: Outbox,
        link: Link,
        uploader: EvidenceUploader | None,
        idle_wait_s: float = 1.0,
    ) -> None:
        self.device_id = device_id
        self.outbox = outbox
        self.link = link
        self.uploader = uploader
        self.idle_wait_s = idle_wait_s
        self.published_events = 0
        self.published_batches = 0
        self.upload_failures = 0
        self.acked_seq = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def wake(self) -> None:
        """New events were recorded: send without waiting for the idle poll."""
        self._wake.set()

    def on_connected(self) -> None:
        self.outbox.retry_all_now()
        self._wake.set()

    def on_ack(self, acked_seq: int) -> None:
        deleted = self.outbox.ack(acked_seq)
        self.acked_seq = max(self.acked_seq, acked_seq)
        log.debug("ack %d: %d events forgotten", acked_seq, deleted)

    def pump_once(self) -> int:
        """One pass; returns how many events were handed to the link (0 when nothing was due or offline)."""
        if not self.link.is_connected():
            return 0
        sent = self._pump_events()
        self._pump_spool()
        return sent

    def _pump_spool(self, limit: int = 50) -> None:
        """Health and telemetry held while offline; after the events, which matter more."""
        done = []
        for row_id, topic, payload, qos in self.outbox.spooled(limit):
            if not self.link.publish(Topic(topic), payload, qos=qos):
                break
            done.append(row_id)
        self.outbox.unspool(done)

    def _pump_events(self) -> int:
        items = self.outbox.due(self.device_id)
        ready, failed = [], []
        upload_failed = False
        for item in items:
            if item.evidence_done:
                ready.append(item)
                continue
            if upload_failed:
                # The hub's HTTP side is down or hanging: one timeout per pass, not one per held picture, so the
                # events that need no upload (and health) are not held up. These stay due for the next pass.
                continue
            if self.uploader is None or item.evidence_path is None or item.evidence_sha256 is None:
                log.error("event seq %d waits for evidence but there is no uploader or file", item.seq)
                failed.append(item.seq)
                continue
            try:
                self.uploader.upload(item.event_id, item.evidence_path, item.evidence_sha256)
            except EvidenceUploadError as exc:
                self.upload_failures += 1
                log.warning("evidence for event seq %d not uploaded, will retry: %s", item.seq, exc)
                failed.append(item.seq)
                upload_failed = True
                continue
            self.outbox.mark_evidence_done(item.seq)
            ready.append(item)
        self.outbox.defer(failed)
        if not ready:
            return 0
        if not self.link.publish(Topic.EVENTS, batch_payload(self.device_id, ready), qos=1):
            return 0  # not connected after all; everything stays due and goes on the next pass
        # Published is not delivered: the events come due again unless the hub acks them first.
        self.outbox.defer([item.seq for item in ready])
        self.published_batches += 1
        self.published_events += len(ready)
        return len(ready)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the pass, so a wake during the pass is not lost
            try:
                sent = self.pump_once()
            except Exception:  # keep sending alive; the failure is logged and retried
                log.exception("sender pass failed")
                sent = 0
            if not sent:
                self._wake.wait(self.idle_wait_s)
