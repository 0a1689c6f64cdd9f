"""Frame sources behind one small interface; OpenCV does the decoding.

A still image is served repeatedly, as a fixed camera would show a static scene; a video file plays at its own
frame rate (and loops, so a recorded clip can stand in for a camera); rtsp://, http(s)://, usb:N and `gst:` (a
GStreamer pipeline ending in appsink, e.g. with NVDEC on a Jetson) are live. Files and streams decode through FFmpeg.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
GSTREAMER_PREFIX = "gst:"


class SourceError(RuntimeError):
    """The source cannot be opened or read; the message says which source and why."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame: BGR pixels, capture time (UTC wall clock for events, monotonic for durations)."""

    image: np.ndarray
    ts: datetime
    mono: float
    index: int

    @property
    def wh(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


class FrameSource(Protocol):
    live: bool
    """True for cameras and streams (they pace themselves); False for files, which the reader paces."""

    def open(self) -> None: ...
    def grab(self) -> bool:
        """Advance to the next frame without decoding it fully; False when the source failed or ended."""

    def retrieve(self) -> np.ndarray | None: ...
    def frame_period_s(self) -> float | None:
        """Seconds between frames for a paced (non-live) source; None when the source paces itself."""

    def close(self) -> None: ...


class StillImageSource:
    live = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.image: np.ndarray | None = None

    def open(self) -> None:
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{self.path}: not a readable image")
        self.image = image

    def grab(self) -> bool:
        return self.image is not None

    def retrieve(self) -> np.ndarray | None:
        return self.image

    def frame_period_s(self) -> float | None:
        return None  # every frame is the same; the reader paces it at the analysis rate

    def close(self) -> None:
        self.image = None


def gstreamer_available() -> bool:
    """Whether this OpenCV build can run GStreamer pipelines (PyPI's wheels cannot; an OpenCV built with it can)."""
    return any(
        line.strip().startswith("GStreamer:") and "YES" in line for line in cv2.getBuildInformation().splitlines()
    )


class OpenCvSource:
    """Video file, network stream, USB camera or GStreamer pipeline through cv2.VideoCapture."""

    def __init__(
        self,
        target: str | int,
        live: bool,
        loop: bool = False,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        decode_threads: int = 1,
        gstreamer: bool = False,
    ) -> None:
        self.target = target
        self.live = live
        self.loop = loop
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self.decode_threads = decode_threads
        self.gstreamer = gstreamer
        self.cap: cv2.VideoCapture | None = None
        self.fps: float | None = None

    def _capture(self) -> cv2.VideoCapture:
        if self.gstreamer:
            if not gstreamer_available():
                raise SourceError(
                    f"{GSTREAMER_PREFIX}{self.target}: this OpenCV build has no GStreamer support (PyPI's wheels"
                    " have none); install an OpenCV built with GStreamer for this Python, or use an rtsp:// source"
                )
            return cv2.VideoCapture(str(self.target), cv2.CAP_GSTREAMER)
        if isinstance(self.target, int):
            return cv2.VideoCapture(self.target)
        # One decoding thread per camera by default: a box decoding several cameras keeps its cores busy with them
        # side by side, without FFmpeg's frame threads (one per core, each holding frames) for every camera. One
        # 720p stream decoded alone took 27 % less CPU a frame this way; in the 8-camera bench the decoding CPU was
        # the same (docs/benchmarks.md). 0 lets FFmpeg choose, for one very large stream.
        params = [cv2.CAP_PROP_N_THREADS, self.decode_threads] if self.decode_threads > 0 else []
        if self.target.startswith(STREAM_SCHEMES):
            # Bounded waits: without them a stream that stops sending blocks grab() forever and nobody reconnects.
            params += [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self.read_timeout_s * 1000),
            ]
        return cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)

    def open(self) -> None:
        cap = self._capture()
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.target}: cannot open (check the path, URL, credentials or device)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else None
        self.cap = cap

    def grab(self) -> bool:
        if self.cap is None:
            return False
        if self.cap.grab():
            return True
        if self.loop and not self.live:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            return self.cap.grab()
        return False

    def retrieve(self) -> np.ndarray | None:
        if self.cap is None:
            return None
        ok, image = self.cap.retrieve()
        return image if ok else None

    def frame_period_s(self) -> float | None:
        if self.live:
            return None
        return 1.0 / self.fps if self.fps else 1.0 / 25

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


def open_source(source: str, loop: bool = True, decode_threads: int = 1) -> FrameSource:
    """Build (not yet open) the right source for a config `source` string."""
    if source.startswith(GSTREAMER_PREFIX):
        pipeline = source.removeprefix(GSTREAMER_PREFIX).strip()
        if "appsink" not in pipeline:
            raise SourceError(
                f"source {source!r}: a GStreamer pipeline must end in appsink (e.g. '... ! videoconvert !"
                " video/x-raw,format=BGR ! appsink drop=1')"
            )
        return OpenCvSource(pipeline, live=True, gstreamer=True)
    if source.startswith("usb:"):
        index = source.removeprefix("usb:")
        if not index.isdigit():
            raise SourceError(f"source {source!r}: expected usb:N with a device number, e.g. usb:0")
        return OpenCvSource(int(index), live=True)
    if source.startswith(STREAM_SCHEMES):
        return OpenCvSource(source, live=True, decode_threads=decode_threads)
    path = Path(source).expanduser()
    if not path.is_file():
        raise SourceError(f"source {source!r}: no such file (or use rtsp://, http(s):// or usb:N)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return StillImageSource(path)
    return OpenCvSource(str(path), live=False, loop=loop, decode_threads=decode_threads)
