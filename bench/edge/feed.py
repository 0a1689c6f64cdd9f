"""A back-pressured frame feed: one decoding thread per camera that stays one frame ahead of the pipeline.

The agent's CameraReader plays files in real time and drops frames a busy pipeline did not take, which is right
for a camera but caps a file at its own frame rate, so it cannot measure capacity. This feed decodes through the
same `FrameSource` classes (OpenCV/FFmpeg for video, the still-image source for pictures) on its own thread, as
the reader does, but waits while the pipeline has not taken the previous frame: decoding overlaps inference and
no decoded frame is thrown away.
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import UTC, datetime

from edge_agent.capture.sources import Frame, FrameSource, open_source


class FeedError(RuntimeError):
    """The source could not be opened or stopped delivering frames."""


class PrefetchFeed:
    def __init__(self, camera_id: str, source: str, depth: int = 1) -> None:
        self.camera_id = camera_id
        self.source: FrameSource = open_source(source, loop=True)
        self.decoded = 0
        self.error: Exception | None = None
        self._queue: queue.Queue[Frame] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"feed-{camera_id}", daemon=True)

    def start(self) -> None:
        self.source.open()  # in the caller's thread, so a bad file fails the bench at once
        self._thread.start()

    def get(self, timeout: float) -> Frame | None:
        """The next decoded frame (the PipelineWorker's `next_frame`)."""
        if self.error is not None:
            raise FeedError(f"camera {self.camera_id}: {self.error}") from self.error
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        self._stop.set()
        while True:  # unblock a put() waiting for room
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(5.0)
        self.source.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.source.grab():
                    raise FeedError("the source ended although it loops")
                image = self.source.retrieve()
                if image is None:
                    raise FeedError("a grabbed frame could not be decoded")
                self.decoded += 1
                frame = Frame(image=image, ts=datetime.now(UTC), mono=time.monotonic(), index=self.decoded)
                while not self._stop.is_set():
                    try:
                        self._queue.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except Exception as exc:  # surfaced to the pipeline thread by get()
            self.error = exc
