"""One reader thread per camera: capture at the analysis rate into a one-slot buffer that never blocks.

The pipeline always gets the newest frame; a frame it did not take in time is overwritten and counted as
dropped, so a slow pipeline shows up in health instead of as growing latency or memory.

A source that fails or ends is reopened with exponential backoff (`min_backoff_s` doubling up to
`max_backoff_s`, reset by the first good frame). Camera states, as reported in health:
- `starting`: not opened yet;
- `ok`: frames arrive;
- `stalled`: opened, but no frame for `stall_after_s` (a stream that hangs; FFmpeg's read timeout then ends the
  read and the reader reconnects);
- `reconnecting`: the source failed or ended, reopening with backoff;
- `offline`: no frame for `offline_after_s` despite reconnecting;
- `stopped`: the agent stopped it.
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
    status: str  # starting | ok | stalled | reconnecting | offline | stopped
    fps: float
    dropped_frames: int
    detail: str = ""
    frames: int = 0
    reconnects: int = 0
    seconds_since_frame: float | None = None


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
        stall_after_s: float = 10.0,
        offline_after_s: float = 60.0,
    ) -> None:
        self.camera_id = camera_id
        self.source_factory = source_factory
        self.period = 1.0 / fps
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.stall_after_s, self.offline_after_s = stall_after_s, offline_after_s
        self.reconnects = 0
        self.backoffs: deque[float] = deque(maxlen=32)
        """The most recent waits before reopening, newest last (observability and tests)."""
        self._started = time.monotonic()
        self._last_frame: float | None = None
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
        now = time.monotonic()
        stamps = list(self._stamps)
        fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
        since = None if self._last_frame is None else now - self._last_frame
        quiet = now - (self._last_frame if self._last_frame is not None else self._started)
        status, detail = self._status, self._detail
        # Derived from the time of the last frame, so a reader blocked inside a read is still reported truthfully.
        if status == "ok" and quiet > self.stall_after_s:
            status, detail = "stalled", f"no frame for {quiet:.0f} s"
        elif status == "reconnecting" and quiet > self.offline_after_s:
            status = "offline"
        if status != "ok":
            fps = 0.0
        return CameraStatus(
            self.camera_id,
            status,
            round(fps, 2),
            self.buffer.dropped,
            detail,
            frames=self._index,
            reconnects=self.reconnects,
            seconds_since_frame=None if since is None else round(since, 1),
        )

    def _run(self) -> None:
        backoff = self.min_backoff_s
        while not self._stop.is_set():
            source: FrameSource | None = None
            try:
                source = self.source_factory()
                source.open()
                self._status, self._detail = "ok", ""
                frames_before = self._index
                self._capture(source)
                if self._index > frames_before:
                    backoff = self.min_backoff_s  # it worked for a while: the next failure starts the backoff anew
                if not self._stop.is_set():
                    self._set_trouble("reconnecting", "source ended or failed")
            except Exception as exc:  # any source failure: keep the camera thread alive and retry
                self._set_trouble("reconnecting", str(exc) or type(exc).__name__)
            finally:
                if source is not None:
                    source.close()
            self.backoffs.append(backoff)
            if self._stop.wait(backoff):
                break
            self.reconnects += 1
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
                self._last_frame = now
                next_due = max(next_due + self.period, now)  # fall behind gracefully, never burst to catch up
            if source.live:
                continue
            # Files and stills have no clock of their own: play them in real time.
            next_grab = max(next_grab + (file_period or self.period), now) if file_period else next_due
            self._stop.wait(max(0.0, next_grab - time.monotonic()))
