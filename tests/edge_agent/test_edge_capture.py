from __future__ import annotations

import time
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from edge_testkit import shared_file

from edge_agent.capture.reader import CameraReader, LatestFrame
from edge_agent.capture.sources import (
    Frame,
    OpenCvSource,
    SourceError,
    StillImageSource,
    gstreamer_available,
    open_source,
)


def frame(i: int) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), datetime.now(UTC), float(i), i)


def test_latest_frame_never_blocks_and_counts_overwritten_frames() -> None:
    slot = LatestFrame()
    assert slot.get(timeout=0) is None
    for i in range(1, 4):
        slot.put(frame(i))
    assert slot.get(timeout=0).index == 3
    assert slot.dropped == 2
    assert slot.get(timeout=0) is None  # each frame is handed out once


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("usb:front", "usb:N"),
        ("/no/such/file.mp4", "no such file"),
        ("gst:videotestsrc ! videoconvert", "must end in appsink"),
    ],
)
def test_bad_sources_are_refused_with_the_reason(source: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(source)


def test_still_image_and_video_sources() -> None:
    still = open_source(str(shared_file("media", "mmdet_demo.jpg")))
    assert isinstance(still, StillImageSource)
    still.open()
    assert still.grab() and still.retrieve().shape == (427, 640, 3)
    video = open_source(str(shared_file("media", "mmdet_demo.mp4")))
    video.open()
    try:
        assert not video.live and video.frame_period_s() == pytest.approx(1 / 30, rel=0.05)
        assert video.grab() and video.retrieve().shape == (720, 1280, 3)
    finally:
        video.close()


def test_video_decodes_on_the_configured_number_of_threads() -> None:
    path = str(shared_file("media", "mmdet_demo.mp4"))
    for threads in (1, 2):
        video = open_source(path, decode_threads=threads)
        video.open()
        try:
            assert isinstance(video, OpenCvSource)
            assert video.cap.get(cv2.CAP_PROP_N_THREADS) == threads
            assert video.grab() and video.retrieve().shape == (720, 1280, 3)
        finally:
            video.close()


@pytest.mark.skipif(gstreamer_available(), reason="this OpenCV build has GStreamer; the refusal cannot happen")
def test_a_gstreamer_pipeline_without_gstreamer_support_names_the_problem() -> None:
    source = open_source("gst:videotestsrc ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1")
    assert source.live
    with pytest.raises(SourceError, match="no GStreamer support"):
        source.open()


def _wait_for(reader: CameraReader, count: int) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + 20
    while len(frames) < count and time.monotonic() < deadline:
        got = reader.get(timeout=0.5)
        if got is not None:
            frames.append(got)
    return frames


def test_reader_delivers_frames_from_a_looping_video() -> None:
    path = shared_file("media", "mmdet_demo.mp4")
    reader = CameraReader("cam-v", lambda: open_source(str(path)), fps=30)
    reader.start()
    try:
        frames = _wait_for(reader, 80)  # the clip has 67 frames: getting 80 means it looped
        status = reader.status()
    finally:
        reader.stop()
    assert len(frames) == 80
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    assert status.status == "ok" and status.camera_id == "cam-v"


def test_reader_retries_a_failing_source() -> None:
    attempts = []

    def factory():
        attempts.append(1)
        return open_source("/no/such/file.mp4")

    reader = CameraReader("cam-x", factory, fps=5, min_backoff_s=0.01, max_backoff_s=0.02)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while len(attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        status = reader.status()
    finally:
        reader.stop()
    assert len(attempts) >= 3
    assert status.status == "reconnecting" and "no such file" in status.detail
