"""One reader thread per camera: capture at the analysis rate into a one-slot buffer that never blocks.

The pipeline always gets the newest frame; a frame it did not take in time is overwritten and counted as
dropped, so a slow pipeline shows up in health instead of as growing latency or memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from edge_agent.capture.sources import Frame, FrameSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraStatus:
    camera_id: str
    status: str  # starting | ok | reconnecting | error | stopped
    fps: float
    dropped_frames: int
    detail: str = ""


class LatestFrame:
    """A single-slot buffer: `put` never blocks and replaces an unread frame; `get` waits for a newer one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._unread = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._unread:
                self.dropped += 1
            self._frame, self._unread = frame, True
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        with self._cond:
            if not self._unread and not self._cond.wait_for(lambda: self._unread, timeout):
                return None
            self._unread = False
            return self._frame


class CameraReader:
    def __init__(
        self,
        camera_id: str,
        source_factory: Callable[[], FrameSource],
        fps: float,
        min_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.camera_id = camera_id
        self.source_factory = source_factory
        self.period = 1.0 / fps
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.buffer = LatestFrame()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader-{camera_id}", daemon=True)
        self._status, self._detail = "starting", ""
        self._stamps: deque[float] = deque(maxlen=20)
        self._index = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._status = "stopped"

    def get(self, timeout: float) -> Frame | None:
        return self.buffer.get(timeout)

    def status(self) -> CameraStatus:
        stamps = list(self._stamps)
        fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
        return CameraStatus(self.camera_id, self._status, round(fps, 2), self.buffer.dropped, self._detail)

    def _run(self) -> None:
        backoff = self.min_backoff_s
        while not self._stop.is_set():
            source: FrameSource | None = None
            try:
                source = self.source_factory()
                source.open()
                self._status, self._detail = "ok", ""
                backoff = self.min_backoff_s
                self._capture(source)
                if not self._stop.is_set():
                    self._set_trouble("reconnecting", "source ended or failed")
            except Exception as exc:  # any source failure: keep the camera thread alive and retry
                self._set_trouble("error", str(exc))
            finally:
                if source is not None:
                    source.close()
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.max_backoff_s)

    def _set_trouble(self, status: str, detail: str) -> None:
        if (status, detail) != (self._status, self._detail):
            log.warning("camera %s: %s (%s)", self.camera_id, status, detail)
        self._status, self._detail = status, detail

    def _capture(self, source: FrameSource) -> None:
        """Grab every frame (cheap), decode only those due at the analysis rate."""
        file_period = source.frame_period_s()
        next_due = time.monotonic()
        next_grab = next_due
        while not self._stop.is_set():
            if not source.grab():
                return
            now = time.monotonic()
            if now >= next_due:
                image = source.retrieve()
                if image is None:
                    return
                self._index += 1
                self.buffer.put(Frame(image=image, ts=datetime.now(UTC), mono=now, index=self._index))
                self._stamps.append(now)
                next_due = max(next_due + self.period, now)  # fall behind gracefully, never burst to catch up
            if source.live:
                continue
            # Files and stills have no clock of their own: play them in real time.
            next_grab = max(next_grab + (file_period or self.period), now) if file_period else next_due
            self._stop.wait(max(0.0, next_grab - time.monotonic()))
