"""`cmd probe` {source, timeout_s, camera_id}: can this box read that camera? One frame, with the agent's own capture.

The add-a-camera wizard sends it before a camera is configured: the answer says the picture size, frame rate and
codec (when the source tells them), and the frame goes to the hub as a snapshot to draw zones on. A failure names
the reason: `unreachable` (nothing answers at that address, or no such file or device), `no frame within N s`
(it opened, or is still opening, but delivered nothing in time), `not a video` (a file no decoder can read).

The source is opened on a helper thread and the caller waits at most `timeout_s`: a stream that hangs inside
OpenCV cannot be interrupted, so the helper is left to end on its own (FFmpeg's open and read timeouts, set a little
longer than the wait, bound it) and the command thread is free again on time.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
from pydantic import Field, ValidationError

from edge_agent.capture.sources import FrameSource, OpenCvSource, SourceError, StillImageSource, open_source
from edge_agent.config import StrictModel
from edge_agent.remote.device_config import SOURCE_PATTERN

DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 30.0
HELPER_GRACE_S = 2.0  # the helper's own FFmpeg timeouts run this much past the caller's wait
_USERINFO = re.compile(r"(?<=://)[^/\s]+@")


class ProbeArgs(StrictModel):
    source: Annotated[str, Field(min_length=2, max_length=2048, pattern=SOURCE_PATTERN)]
    timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)
    camera_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None


def parse_probe_args(args: dict) -> ProbeArgs:
    try:
        return ProbeArgs.model_validate(args)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"bad probe args: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


class ProbeError(RuntimeError):
    """The source cannot be read; the message starts with the reason (unreachable, no frame, not a video)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    image: np.ndarray
    fps: float | None
    codec: str | None

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def redact(text: str) -> str:
    """Credentials of a stream URL (`rtsp://user:password@host`) left out of what is reported to the hub."""
    return _USERINFO.sub("***@", text)


def fourcc_text(value: float) -> str | None:
    """OpenCV's CAP_PROP_FOURCC as its four characters (`h264`, `avc1`, `MJPG`), None when unknown."""
    code = int(value)
    if code <= 0:
        return None
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
    return text if text.isprintable() and text else None


def _codec(source: FrameSource) -> str | None:
    if isinstance(source, StillImageSource):
        return source.path.suffix.lower().lstrip(".").replace("jpg", "jpeg") or None
    cap = getattr(source, "cap", None)
    return fourcc_text(cap.get(cv2.CAP_PROP_FOURCC)) if cap is not None else None


def _read_one(source: FrameSource, live: bool, outcome: dict) -> None:
    """Open, read one frame, close; the result or a ProbeError lands in `outcome` (runs on the helper thread)."""
    try:
        try:
            source.open()
        except SourceError as exc:
            reason = "unreachable" if live else "not a video"
            outcome["error"] = ProbeError(f"{reason}: {redact(str(exc))}")
            return
        image = source.retrieve() if source.grab() else None
        if image is None or image.size == 0:
            reason = "no frame: the source opened but delivered none" if live else "not a video: no decodable frame"
            outcome["error"] = ProbeError(reason)
            return
        outcome["result"] = ProbeResult(image, getattr(source, "fps", None), _codec(source))
    except Exception as exc:  # whatever OpenCV throws, the caller gets a reason
        outcome["error"] = ProbeError(f"unreachable: {type(exc).__name__}: {redact(str(exc))}")
    finally:
        source.close()


def probe_source(source: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> ProbeResult:
    """One frame of `source` within `timeout_s`, or ProbeError with the reason."""
    try:
        frames = open_source(source, loop=False)
    except SourceError as exc:
        kind = "not a video" if Path(source).is_file() else "unreachable"
        raise ProbeError(f"{kind}: {redact(str(exc))}") from None
    live = getattr(frames, "live", False)
    if isinstance(frames, OpenCvSource):
        frames.open_timeout_s = frames.read_timeout_s = timeout_s + HELPER_GRACE_S
    outcome: dict = {}
    helper = threading.Thread(target=_read_one, args=(frames, live, outcome), name="probe", daemon=True)
    helper.start()
    helper.join(timeout_s)
    if helper.is_alive() or not outcome:
        raise ProbeError(f"no frame within {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
