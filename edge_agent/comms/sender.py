"""The sender loop: take due events from the outbox, upload their evidence, publish them as batches.

An event is published only after its picture is on the hub, so event and picture arrive together or both wait, but
never forever: an event held back stalls the hub's ack (it acks only contiguous seqs) and so fills the outbox. A
picture that can never arrive (file gone, hub refuses it) releases its event at once; one that keeps failing for
transient reasons does so after `max_upload_attempts` tries with backoff. Such an event goes without `evidence` and
with `evidence_missing: {reason, detail, attempts}` instead, so the hub never links a picture that does not exist.
Published events stay in the outbox until the hub's ack; unacked ones come due again after a backoff.
"""

from __future__ import annotations

import logging
import threading

from cityops.contract.messages import EvidenceMissing
from cityops.contract.topics import Topic
from edge_agent.comms.evidence_upload import EvidenceUploader, EvidenceUploadError
from edge_agent.comms.link import Link
from edge_agent.comms.outbox import Outbox, OutboxItem, batch_payload

log = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 200  # enough for the hub's answer; keeps the event far below the batch size limit


class EventSender:
    def __init__(
        self,
        device_id: str,
        outbox: Outbox,
        link: Link,
        uploader: EvidenceUploader | None,
        idle_wait_s: float = 1.0,
        max_upload_attempts: int = 5,
    ) -> None:
        if max_upload_attempts < 1:
            raise ValueError(f"max_upload_attempts must be at least 1, got {max_upload_attempts}")
        self.device_id = device_id
        self.outbox = outbox
        self.link = link
        self.uploader = uploader
        self.idle_wait_s = idle_wait_s
        self.published_events = 0
        self.published_batches = 0
        self.upload_failures = 0
        self.max_upload_attempts = max_upload_attempts
        self.events_without_picture = 0
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
            try:
                self._upload(item)
            except EvidenceUploadError as exc:
                self.upload_failures += 1
                attempts = item.attempts + 1  # before its picture is done, an event's attempts are upload attempts
                if exc.permanent or attempts >= self.max_upload_attempts:
                    self._send_without_picture(item, exc, attempts)
                    continue
                log.warning(
                    "evidence for event seq %d not uploaded (attempt %d of %d), will retry: %s",
                    item.seq,
                    attempts,
                    self.max_upload_attempts,
                    exc,
                )
                failed.append(item.seq)
                upload_failed = True  # a transient failure says the hub is in trouble; a permanent one does not
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

    def _upload(self, item: OutboxItem) -> None:
        if self.uploader is None or item.evidence_path is None or item.evidence_sha256 is None:
            raise EvidenceUploadError("no uploader or no evidence file for this event", permanent=True)
        self.uploader.upload(item.event_id, item.evidence_path, item.evidence_sha256)

    def _send_without_picture(self, item: OutboxItem, exc: EvidenceUploadError, attempts: int) -> None:
        missing = EvidenceMissing(reason=exc.reason, detail=str(exc)[:MAX_DETAIL_CHARS], attempts=attempts)
        if self.outbox.drop_evidence(item.seq, missing.model_dump()) is None:
            return  # acked meanwhile
        self.events_without_picture += 1
        log.error(
            "event seq %d goes without its picture after %d upload attempt(s) (%s): %s",
            item.seq,
            attempts,
            exc.reason,
            exc,
        )
        # Due at once, in the next pass: its payload changed size, and this pass's batch was sized without it.
        self._wake.set()

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
