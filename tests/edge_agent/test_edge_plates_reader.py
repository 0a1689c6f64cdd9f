"""Plate OCR (RapidOCR) on a SYNTHETIC plate warped onto a real car: read before blurring, unreadable after; the
optional wheel's absence is a clear error; rule options validate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from edge_plates_scene import LPD_MODEL, plate_on_car

from edge_agent.config import ConfigError
from edge_agent.evidence.privacy import blur_quads
from edge_agent.models.manifest import ModelIntegrityError
from edge_agent.plates.crop import rectify_plate
from edge_agent.plates.detector import PlateDetector
from edge_agent.plates.options import PlateOptions
from edge_agent.plates.reader import PlateReader, PlateReaderUnavailable, normalise_plate_text
from edge_agent.plates.recognizer import PlateModels, PlateRecognizer
from edge_agent.rules import load_rules
from tests.shared_assets import require_shared

pytest.importorskip("rapidocr_onnxruntime", reason="the optional `plates` extra is not installed")


@pytest.fixture(scope="module")
def recognizer() -> PlateRecognizer:
    require_shared(LPD_MODEL)
    return PlateRecognizer(PlateDetector(LPD_MODEL), PlateReader())


def test_synthetic_plate_is_read_exactly(recognizer: PlateRecognizer) -> None:
    scene = plate_on_car()
    reading = recognizer.read(scene.image, scene.vehicle_xyxy)
    assert reading is not None
    assert reading.text == scene.text
    assert reading.confidence >= 0.9
    assert np.linalg.norm(reading.corners - scene.corners, axis=1).max() < 8.0
    field = reading.event_field((scene.image.shape[1], scene.image.shape[0]))
    assert field["text"] == scene.text and len(field["corners"]) == 4
    assert all(0 <= v <= 1 for corner in field["corners"] for v in corner)
    assert json.loads(json.dumps(field)) == field  # plain JSON types, as the outbox stores it


def test_a_plate_seen_through_a_hidden_cars_box_belongs_to_the_car_in_front(recognizer: PlateRecognizer) -> None:
    """The white car behind the SUV has a box that covers the SUV's plate (YOLOX-Nano's box on this scene)."""
    scene = plate_on_car()
    white_car = (10.0, 146.0, 257.0, 300.0)
    assert recognizer.read(scene.image, white_car) is not None  # alone, its box holds a plate
    assert recognizer.read(scene.image, white_car, [scene.vehicle_xyxy]) is None  # but the SUV is in front
    reading = recognizer.read(scene.image, scene.vehicle_xyxy, [white_car, scene.vehicle_xyxy])
    assert reading is not None and reading.text == scene.text


def test_blurred_plate_can_be_neither_read_nor_found(recognizer: PlateRecognizer) -> None:
    scene = plate_on_car()
    blurred, count = recognizer.blur(scene.image, [scene.vehicle_xyxy])
    assert count >= 1
    assert recognizer.reader is not None
    assert recognizer.reader.read(rectify_plate(blurred, scene.corners)) is None  # OCR at the known place fails
    assert recognizer.read(blurred, scene.vehicle_xyxy) is None
    assert recognizer.find_all(blurred, [scene.vehicle_xyxy]) == []
    assert not np.array_equal(blurred, scene.image)


def test_blurring_with_a_full_engine_ocr_finds_no_text_in_the_plate_area(recognizer: PlateRecognizer) -> None:
    """Text detection plus recognition over the plate's surroundings: the plate string is gone, not only weaker."""
    from rapidocr_onnxruntime import RapidOCR

    scene = plate_on_car()
    x1, y1 = (scene.corners.min(axis=0) - 30).astype(int)
    x2, y2 = (scene.corners.max(axis=0) + 30).astype(int)
    engine = RapidOCR()
    before, _ = engine(scene.image[y1:y2, x1:x2])
    assert before and any(scene.text[-5:] in normalise_plate_text(r[1]) for r in before)
    after, _ = engine(blur_quads(scene.image, [scene.corners])[y1:y2, x1:x2])
    assert not after or not any(ch.isdigit() for r in after for ch in r[1])


@pytest.mark.parametrize(
    ("raw", "text"),
    [("京A·88888", "京A88888"), ("京a 88888", "京A88888"), ("粤B-12345", "粤B12345"), (" A8.8888 ", "A88888")],
)
def test_plate_text_is_normalised(raw: str, text: str) -> None:
    assert normalise_plate_text(raw) == text


def test_short_or_unsure_reads_are_dropped(recognizer: PlateRecognizer) -> None:
    reader = recognizer.reader
    assert reader is not None
    blank = np.full((48, 150, 3), 200, np.uint8)
    assert reader.read(blank) is None
    with pytest.raises(ValueError, match="upright HxWx3"):
        reader.read(np.zeros((4, 100, 3), np.uint8))


def test_missing_ocr_wheel_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # what `import` sees when it is not installed
    with pytest.raises(PlateReaderUnavailable, match=r"rapidocr-onnxruntime.*cityops\[plates\].*plates.read: false"):
        PlateReader()


def test_plate_models_load_what_the_rules_ask_and_name_a_missing_model() -> None:
    require_shared(LPD_MODEL)
    models = PlateModels(lambda name: LPD_MODEL)
    assert models.recognizer(PlateOptions()) is None
    blur_only = models.recognizer(PlateOptions(blur=True))
    assert blur_only is not None and blur_only.reader is None
    reading = models.recognizer(PlateOptions(read=True))
    assert reading is not None and reading.reader is not None and reading.detector is blur_only.detector

    def missing(name: str) -> Path:
        raise ModelIntegrityError(f"model {name!r}: weights file not found")

    with pytest.raises(ConfigError, match=r"plate detector 'lpd_yunet'.*not found"):
        PlateModels(missing).recognizer(PlateOptions(blur=True))


RULES = """
version: 1
zones: [{id: kerb, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]
analytics:
  - {type: parking, zones: [kerb], plates: PLATES}
  - {type: parking, id: parking.b, zones: [kerb]}
"""


def test_rule_plate_options_merge_and_reject_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace("PLATES", "{read: true}"))
    rules = load_rules(path)
    assert rules.plate_options() == PlateOptions(read=True, blur=False)
    assert rules.analytics[1].plates == PlateOptions()
    path.write_text(RULES.replace("PLATES", "{read: true, blurr: true}"))
    with pytest.raises(ConfigError, match="blurr"):
        load_rules(path)


class BrokenDetector:
    def detect(self, image_bgr: np.ndarray, roi_xyxy=None) -> list:
        raise RuntimeError("onnxruntime failed")


def test_a_failing_plate_step_loses_the_plate_or_the_picture_never_privacy(recognizer: PlateRecognizer) -> None:
    scene = plate_on_car()
    broken = PlateRecognizer(BrokenDetector(), recognizer.reader)  # type: ignore[arg-type]
    plate, frame = broken.for_event(
        PlateOptions(read=True), phase="start", image_bgr=scene.image, vehicle_xyxy=scene.vehicle_xyxy
    )
    assert plate is None and frame is scene.image  # no plate, the event and its picture go on
    plate, frame = broken.for_event(
        PlateOptions(read=True, blur=True), phase="start", image_bgr=scene.image, vehicle_xyxy=scene.vehicle_xyxy
    )
    assert plate is None and frame is None  # no picture rather than one with a plate left readable
    plate, frame = recognizer.for_event(
        PlateOptions(read=True, blur=True), phase="update", image_bgr=scene.image, vehicle_xyxy=scene.vehicle_xyxy
    )
    assert plate is None and frame is not None and frame is not scene.image  # read on start only; blurred copy
