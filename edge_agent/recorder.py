"""Records an event durably: evidence picture (faces blurred) on disk, then the event in the outbox.

The picture is written and fsynced first and the outbox row that points at it is committed second, so no
stored event ever refers to a missing picture; a crash in between leaves only an orphan file, pruned at start.

Rendering a picture (YuNet face blur, annotation, JPEG) takes tens of milliseconds, so by default it runs on one
evidence thread fed by a bounded queue instead of on the camera's inference path. Every event, with a picture or
not, goes through that one queue so the outbox keeps the order in which the pipelines decided them (a stay's
`start` before its `end`). When the queue is full the camera thread waits for room (logged as a warning): no event
is ever dropped for speed, and the camera falls behind only by the frames its reader skips meanwhile. `close()`
drains the queue into the outbox; when rendering cannot finish within its timeout (a box far slower than
planned), the events still queued are stored without their pictures rather than lost. The events still queued
when the process is killed are the only ones lost, as with the frames in flight. The face blur happens on the
evidence thread before anything is written or sent.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.comms.disk_guard import Work, is_disk_full, work_for_phase
from edge_agent.comms.outbox import Outbox, OutboxFull
from edge_agent.config import EvidenceConfig
from edge_agent.evidence.policy import PicturePolicy
from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.evidence.render import render_evidence, write_evidence
from edge_agent.metrics import EdgeMetrics

log = logging.getLogger(__name__)

_STOP = object()  # queue sentinel: the evidence thread ends after everything queued before it


@dataclass(frozen=True, slots=True)
class EvidenceRequest:
    """What to draw on the frame: the object's box and label, and the zone outline (pixels).

    `frame` is read, never written: the pipeline hands over the decoded frame itself, not a copy.
    """

    frame: np.ndarray
    ts: datetime
    box_xyxy: tuple[float, float, float, float]
    label: str
    zone_px: np.ndarray | None
    # Licence plates: True when the rule already handled them (blurred, or kept legible because a parking rule asks
    # for plates); otherwise the recorder pixelates every plate it finds, near `vehicle_boxes` and in the frame.
    plates_done: bool = False
    vehicle_boxes: tuple[tuple[float, float, float, float], ...] = ()


# (frame, vehicle boxes) -> (a copy with every plate found pixelated, plates found): PlateRecognizer.blur
PlateBlur = Callable[[np.ndarray, Sequence[tuple[float, float, float, float]]], tuple[np.ndarray, int]]


class EventRecorder:
    def __init__(
        self,
        outbox: Outbox,
        evidence_dir: Path,
        evidence: EvidenceConfig,
        blurrer: FaceBlurrer | None,
        on_recorded: Callable[[], None] = lambda: None,
        metrics: EdgeMetrics | None = None,
        *,
        background: bool = True,
        queue_limit: int = 16,
        faces_unblurred: bool = False,
        plate_blur: PlateBlur | None = None,
    ) -> None:
        """`background`: render and store on the evidence thread (False: on the caller's, as `record` returns);
        `queue_limit`: events waiting for that thread before callers wait (each holds one frame in memory);
        `faces_unblurred`: the box's explicit privacy.send_faces_unblurred, the only way to record without a
        face blurrer; `plate_blur`: pixelates plates in pictures whose rule did not handle them (the agent always
        gives one)."""
        if evidence.enabled and blurrer is None and not faces_unblurred:
            raise ValueError("no face detector to blur evidence (privacy.send_faces_unblurred is off)")
        if queue_limit < 1:
            raise ValueError(f"queue_limit must be at least 1, got {queue_limit}")
        self.outbox = outbox
        self.evidence_dir = evidence_dir
        self.evidence = evidence
        self.blurrer = blurrer
        self.plate_blur = plate_blur
        self.plates_blurred = 0  # plates pixelated by the recorder itself
        self.on_recorded = on_recorded
        self.metrics = metrics
        self.pictures = PicturePolicy(evidence.update_pictures, evidence.update_min_change, evidence.update_refresh_s)
        self.recorded = 0
        self.refused = 0
        self.queue_full_waits = 0
        self.stored_without_picture = 0  # stored with evidence_missing: unrendered at close(), or disk low
        self._hurry = False  # set by close() after its timeout: store what is queued without rendering
        self.queue_limit = queue_limit
        self._queue: queue.Queue = queue.Queue(maxsize=queue_limit)
        self._lock = threading.Lock()  # guards starting/closing the thread against concurrent record() calls
        self._closed = not background
        self._thread: threading.Thread | None = None

    def record(self, event: dict[str, Any], request: EvidenceRequest | None) -> int | None:
        """Store the event (with its picture when `request` is given).

        Synchronous mode (or after `close`): returns the seq, None when the outbox refused the event.
        Background mode: queues it and returns None; `flush()` waits until everything queued is stored.
        An update whose scene has not changed since the stay's last picture goes without one (`PicturePolicy`).
        """
        with self._lock:  # also guards the picture policy: every camera thread records here
            if request is not None and not self.pictures.wants_picture(
                event["incident_key"], event["phase"], request.box_xyxy, request.ts
            ):
                request = None
            if self._closed:
                return self._store(event, request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="evidence", daemon=True)
                self._thread.start()
            # Queued under the lock, so nothing can slip in behind close()'s stop marker and be left behind.
            try:
                self._queue.put_nowait((event, request))
            except queue.Full:
                self.queue_full_waits += 1
                # Loud on purpose: a camera thread that waits here is losing frames to evidence rendering.
                log.warning(
                    "evidence queue full (%d events waiting): camera thread waits to record %s %s",
                    self.queue_limit,
                    event.get("kind"),
                    event.get("incident_key"),
                )
                self._queue.put((event, request))
        return None

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every event queued so far is stored (or refused); False when `timeout_s` ran out first."""
        done = threading.Event()
        with self._lock:
            if self._closed or self._thread is None:
                return True
            self._queue.put(done)
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 30.0, hurry_timeout_s: float = 30.0) -> None:
        """Store everything still queued, then record synchronously from now on (the agent's stop).

        Pictures still unrendered after `timeout_s` are skipped: those events are stored without evidence (logged
        and counted), in order, behind the one picture being rendered; `hurry_timeout_s` bounds that last step."""
        with self._lock:
            thread, self._closed = self._thread, True
            if thread is not None:
                self._queue.put(_STOP)
        if thread is None:
            return
        thread.join(timeout_s)
        if not thread.is_alive():
            return
        waiting = self.pending()
        log.error(
            "evidence thread still busy after %.0f s: storing the %d queued event(s) without their pictures",
            timeout_s,
            waiting,
        )
        self._hurry = True
        thread.join(hurry_timeout_s)
        if thread.is_alive():
            log.error("evidence thread still busy: %d event(s) not stored", self.pending())

    def pending(self) -> int:
        """Events queued and not yet stored."""
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):  # a flush marker: everything before it is stored
                item.set()
                continue
            event, request = item
            if self._hurry and request is not None:
                request = None
                event = {**event, "evidence_missing": {"reason": "not_rendered", "detail": "agent stopping"}}
                log.error("event %s (%s) stored without its picture at stop", event.get("event_id"), event.get("kind"))
            try:
                self._store(event, request)
            except Exception:  # one broken picture or a full disk must not end the recording of later events
                log.exception("recording event %s (%s) failed", event.get("event_id"), event.get("incident_key"))

    def _plates_blurred(self, event: dict[str, Any], request: EvidenceRequest) -> EvidenceRequest | None:
        """The request with plates pixelated where its rule left them to the recorder; None (no picture rather
        than one with readable plates) when that fails."""
        if request.plates_done or self.plate_blur is None:
            return request
        try:
            frame, found = self.plate_blur(request.frame, request.vehicle_boxes)
        except Exception:
            log.exception("plate blurring failed: event %s goes without its picture", event.get("event_id"))
            return None
        self.plates_blurred += found
        return dataclasses.replace(request, frame=frame, plates_done=True)

    def _store(self, event: dict[str, Any], request: EvidenceRequest | None) -> int | None:
        path = None
        if request is not None and self.evidence.enabled:
            guard = self.outbox.disk_guard
            if guard is not None and not guard.would_admit(work_for_phase(str(event.get("phase")))):
                request = None  # the outbox refuses (and counts) the event itself: no picture to render
            elif guard is not None and not guard.admit(Work.PICTURE):
                # Below the disk reserve the space is kept for events: this one goes, without its picture.
                detail = f"disk {guard.level}: {guard.free} bytes free, reserve {guard.reserve_bytes}"
                request, event = None, _without_picture(event, detail)
        if request is not None and self.evidence.enabled:
            request = self._plates_blurred(event, request)
        if request is not None and self.evidence.enabled:
            picture = render_evidence(
                request.frame,
                box_xyxy=request.box_xyxy,
                zone_px=request.zone_px,
                label=request.label,
                ts=request.ts,
                blurrer=self.blurrer,
                max_width=self.evidence.max_width,
                jpeg_quality=self.evidence.jpeg_quality,
            )
            try:
                path = write_evidence(self.evidence_dir, event["event_id"], picture)
                event = {**event, "evidence": picture.ref}
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                event = _without_picture(event, f"disk full writing the picture: {exc}")
        try:
            seq = self.outbox.append(event, evidence_path=path)
        except OutboxFull as exc:
            log.error("%s (incident %s, phase %s)", exc, event["incident_key"], event["phase"])
            self.refused += 1
            if self.metrics is not None:
                self.metrics.events_refused.inc()
            if path is not None:
                path.unlink(missing_ok=True)
            return None
        except Exception:
            if path is not None:
                path.unlink(missing_ok=True)
            raise
        self.recorded += 1
        if "evidence_missing" in event:
            self.stored_without_picture += 1
        if self.metrics is not None:
            self.metrics.on_event(event["kind"], event["phase"])
        log.info("event seq %d: %s %s %s", seq, event["kind"], event["phase"], event["incident_key"])
        self.on_recorded()
        return seq


def _without_picture(event: dict[str, Any], detail: str) -> dict[str, Any]:
    return {**event, "evidence_missing": {"reason": "disk_low", "detail": detail, "attempts": 0}}
