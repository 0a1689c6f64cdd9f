"""The plate step of a parking event: read the parked vehicle's plate, and blur plates in its evidence picture.

`PlateModels` loads the models once for the whole agent, and only what the rules ask for (the OCR engine only
when some rule reads), so a box without plate rules pays nothing. `PlateRecognizer` does the work per event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.config import ConfigError
from edge_agent.evidence.privacy import blur_quads
from edge_agent.plates.crop import order_corners, rectify_plate
from edge_agent.plates.detector import PlateDetector
from edge_agent.plates.options import PLATE_MODEL, PlateOptions
from edge_agent.plates.reader import PlateReader

log = logging.getLogger(__name__)
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class PlateReading:
    text: str
    confidence: float
    """The OCR's confidence in the text."""
    corners: np.ndarray
    """(4, 2) frame pixels, clockwise from top-left."""
    detection_score: float

    def event_field(self, frame_wh: tuple[int, int]) -> dict[str, Any]:
        """The event's `plate` field; corners normalised to the frame like the event's `bbox`."""
        w, h = frame_wh
        # Plain floats: the event is JSON, and numpy scalars do not serialise.
        corners = [
            [round(min(max(float(x) / w, 0.0), 1.0), 4), round(min(max(float(y) / h, 0.0), 1.0), 4)]
            for x, y in self.corners
        ]
        return {"text": self.text, "confidence": round(float(self.confidence), 3), "corners": corners}


def grow_box(xyxy: Box, frame_wh: tuple[int, int], share: float = 0.1) -> Box:
    """The vehicle box grown by `share` of its size on each side (a plate can sit on the box's edge), clipped."""
    x1, y1, x2, y2 = xyxy
    dx, dy = (x2 - x1) * share, (y2 - y1) * share
    w, h = frame_wh
    return max(0.0, x1 - dx), max(0.0, y1 - dy), min(float(w), x2 + dx), min(float(h), y2 + dy)


def quarters(frame_wh: tuple[int, int], overlap: float = 0.15) -> list[Box]:
    """The frame's four quarters, each grown by `overlap` of the frame so a plate on a border is whole in one."""
    w, h = frame_wh
    dx, dy = w * overlap, h * overlap
    return [
        (max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(w), x0 + w / 2 + dx), min(float(h), y0 + h / 2 + dy))
        for x0 in (0.0, w / 2)
        for y0 in (0.0, h / 2)
    ]


def _inside(point: np.ndarray, box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def belongs_to(plate_centre: np.ndarray, region: Box, vehicle_xyxy: Box, others: Sequence[Box]) -> bool:
    """Whether a plate centred at `plate_centre` is the vehicle's: inside its (grown) `region`, and not inside
    another vehicle nearer the camera. Nearer = lower bottom edge, the usual depth order of a street camera
    looking down the road: an occluding car stands in front of (below, in the picture) the one it hides."""
    if not _inside(plate_centre, region):
        return False
    return not any(_inside(plate_centre, other) and other[3] > vehicle_xyxy[3] for other in others)


class PlateRecognizer:
    def __init__(self, detector: PlateDetector, reader: PlateReader | None, *, max_reads: int = 2) -> None:
        """`reader` None: this recognizer only blurs. `max_reads`: OCR at most this many candidate plates of a
        vehicle, best detection first (the second helps when the best is a sign or a sticker)."""
        self.detector = detector
        self.reader = reader
        self.max_reads = max_reads

    def read(self, image_bgr: np.ndarray, vehicle_xyxy: Box, others: Sequence[Box] = ()) -> PlateReading | None:
        """The plate of the vehicle in `vehicle_xyxy` (frame pixels), or None when none is read with confidence.

        `others`: the other vehicles in the frame. A plate inside this vehicle's box but also inside the box of a
        vehicle nearer the camera belongs to that one (it hides this one), so it is not this vehicle's plate.
        """
        if self.reader is None:
            raise RuntimeError("this PlateRecognizer was built without an OCR reader (no rule reads plates)")
        frame_wh = (image_bgr.shape[1], image_bgr.shape[0])
        region = grow_box(vehicle_xyxy, frame_wh)
        candidates = [
            found
            for found in self.detector.detect(image_bgr, region)
            if belongs_to(found.corners.mean(axis=0), region, vehicle_xyxy, others)
        ]
        for found in candidates[: self.max_reads]:
            corners = order_corners(found.corners)
            text = self.reader.read(rectify_plate(image_bgr, corners))
            if text is not None:
                return PlateReading(text.text, text.confidence, corners, found.score)
        return None

    def find_all(self, image_bgr: np.ndarray, vehicle_boxes: Sequence[Box]) -> list[np.ndarray]:
        """Corners of every plate found in the whole frame or near any of `vehicle_boxes`.

        The whole frame squeezed into 320x240 finds only large plates; each vehicle's own region finds the small,
        distant ones. Overlapping finds are kept: blurring a plate twice costs nothing.
        """
        frame_wh = (image_bgr.shape[1], image_bgr.shape[0])
        rois: list[Box | None] = [None, *(grow_box(b, frame_wh) for b in vehicle_boxes)]
        if not vehicle_boxes:  # a snapshot or a scene picture: overlapping quarters find the smaller plates
            rois += quarters(frame_wh)
        return [found.corners for roi in rois for found in self.detector.detect(image_bgr, roi)]

    def blur(self, image_bgr: np.ndarray, vehicle_boxes: Sequence[Box]) -> tuple[np.ndarray, int]:
        """A copy with every plate found pixelated, and the number of plates."""
        quads = self.find_all(image_bgr, vehicle_boxes)
        return blur_quads(image_bgr, quads), len(quads)

    def for_event(
        self,
        options: PlateOptions,
        *,
        phase: str,
        image_bgr: np.ndarray,
        vehicle_xyxy: Box,
        other_vehicles: Sequence[Box] = (),
    ) -> tuple[dict[str, Any] | None, np.ndarray | None]:
        """`(plate field or None, evidence frame or None)` for one parking event.

        The plate is read on `start` only (the incident's later events are about the same stay). A failed read
        only loses the plate. The evidence frame is `image_bgr` itself without blurring; with blurring, a
        blurred copy, or None when blurring failed: then the event goes without a picture rather than with a
        readable plate.
        """
        plate = None
        if options.read and phase == "start":
            try:
                reading = self.read(image_bgr, vehicle_xyxy, other_vehicles)
            except Exception:  # the parking event matters more than its plate
                log.exception("plate reading failed; the event goes without a plate")
                reading = None
            if reading is not None:
                plate = reading.event_field((image_bgr.shape[1], image_bgr.shape[0]))
        if not options.blur:
            return plate, image_bgr
        try:
            blurred, _count = self.blur(image_bgr, [vehicle_xyxy, *other_vehicles])
        except Exception:
            log.exception("plate blurring failed; the event goes without its evidence picture")
            return plate, None
        return plate, blurred


class PlateModels:
    """The agent's plate models, loaded on first need and shared by all cameras (thread-safe)."""

    def __init__(
        self,
        resolve_model: Callable[[str], Path],
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 1,
        model_name: str | None = None,
    ) -> None:
        """`resolve_model(name)`: the verified weights path of a manifest model (e.g. `ModelStore.resolve`'s)."""
        self._resolve = resolve_model
        self._providers = providers
        self._threads = intra_op_threads
        self.model_name = model_name or PLATE_MODEL
        self._detector: PlateDetector | None = None
        self._reader: PlateReader | None = None
        self._lock = threading.Lock()

    def blurrer(self) -> PlateRecognizer:
        """For every picture that leaves the box without its rule's own plate handling (snapshots, camera faults,
        scene analytics, parking rules that ask nothing of plates): plates pixelated."""
        recognizer = self.recognizer(PlateOptions(blur=True))
        assert recognizer is not None  # blur is wanted
        return recognizer

    def recognizer(self, options: PlateOptions) -> PlateRecognizer | None:
        """A recognizer able to do what `options` ask (None when they ask nothing); loads models as needed.

        Raises ConfigError when a model or the OCR package is missing, so a start or a live rules change that
        needs them is refused with the reason.
        """
        if not options.wanted:
            return None
        with self._lock:
            if self._detector is None:
                try:
                    path = self._resolve(self.model_name)
                except ConfigError:
                    raise
                except (OSError, RuntimeError) as exc:  # e.g. ModelIntegrityError: name the feature that needs it
                    raise ConfigError(f"plates: cannot load the plate detector {self.model_name!r}: {exc}") from None
                self._detector = PlateDetector(path, providers=self._providers, intra_op_threads=self._threads)
            if options.read and self._reader is None:
                self._reader = PlateReader(intra_op_threads=self._threads)
            return PlateRecognizer(self._detector, self._reader if options.read else None)
