"""Plate text from a rectified plate crop with RapidOCR (PP-OCRv4 recogniser, ONNX Runtime).

`rapidocr-onnxruntime` is an optional dependency (the `plates` extra): the agent imports it only when a rule asks
to read plates, and a missing wheel is a clear configuration error rather than an ImportError deep in a frame.
The crop is already a single upright text line (edge_agent/plates/crop.py), so only the recogniser runs: no text
detection, no angle classifier.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.config import ConfigError

INSTALL_HINT = "pip install 'cityops[plates]' (or: pip install rapidocr-onnxruntime==1.4.4)"
# Separators printed on or read off plates (京A·88888, 京A 88888, 京A-88888) are not part of the registration.
_SEPARATORS = re.compile(r"[\s·•.\-_:'\"]+")


class PlateReaderUnavailable(ConfigError):
    """Plate reading was asked for, but the OCR wheel is not installed."""


@dataclass(frozen=True, slots=True)
class PlateText:
    text: str
    confidence: float


def normalise_plate_text(raw: str) -> str:
    """Upper case without separators: the same plate always gives the same string (incident merging, search)."""
    return _SEPARATORS.sub("", raw).upper()


def _load_engine(intra_op_threads: int) -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise PlateReaderUnavailable(
            f"reading licence plates needs the optional OCR package rapidocr-onnxruntime, which is not installed "
            f"({exc}); install it with {INSTALL_HINT}, or set plates.read: false in the rules"
        ) from None
    # Threads as the agent's detector: on a small box more threads only fight over the same cores.
    return RapidOCR(intra_op_num_threads=intra_op_threads, inter_op_num_threads=1)


class PlateReader:
    def __init__(self, *, min_confidence: float = 0.8, min_chars: int = 5, intra_op_threads: int = 1) -> None:
        """`min_confidence`: below it a reading is dropped (a wrong plate on an event is worse than none);
        `min_chars`: registrations are 5 to 8 characters, shorter strings are partial reads."""
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        self.min_confidence = min_confidence
        self.min_chars = min_chars
        self._engine = _load_engine(max(0, intra_op_threads) or -1)
        self._lock = threading.Lock()  # one engine shared by the camera threads

    def read(self, plate_bgr: np.ndarray) -> PlateText | None:
        """The text of an upright plate crop, or None when nothing trustworthy was read."""
        if plate_bgr.ndim != 3 or plate_bgr.shape[2] != 3 or min(plate_bgr.shape[:2]) < 8:
            raise ValueError(f"expected an upright HxWx3 BGR plate crop, got shape {plate_bgr.shape}")
        with self._lock:
            result, _elapsed = self._engine(plate_bgr, use_det=False, use_cls=False, use_rec=True)
        if not result:
            return None
        raw, score = result[0][0], float(result[0][1])
        text = normalise_plate_text(str(raw))
        if len(text) < self.min_chars or score < self.min_confidence:
            return None
        return PlateText(text=text, confidence=round(score, 4))
