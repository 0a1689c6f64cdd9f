from __future__ import annotations

import cv2
import numpy as np
import pytest
from edge_testkit import MODELS_DIR, shared_file

from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.models.manifest import ModelStore, load_manifest


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    shared_file("models", "yolox_nano.onnx")
    return ModelStore(load_manifest(), MODELS_DIR, tmp_path_factory.mktemp("cache") / "hashes.json")


def _detect(store: ModelStore, model: str, image: str):
    spec, path = store.resolve(model)
    detector = create_detector(spec, path, DetectorOptions())
    return detector.detect(cv2.imread(str(shared_file("media", image))))


def test_yolox_dog_image_matches_reference_scores(store: ModelStore) -> None:
    det = _detect(store, "yolox_nano", "dog.jpg")
    best = {}
    for name, score in zip(det.names(), det.confidence, strict=True):
        best[name] = max(best.get(name, 0.0), float(score))
    # Reference from the YOLOX repository: dog .86, bicycle .80, car .80.
    assert best["dog"] == pytest.approx(0.86, abs=0.03)
    assert best["bicycle"] == pytest.approx(0.80, abs=0.03)
    assert best["car"] == pytest.approx(0.80, abs=0.03)
    dog = det[np.array([n == "dog" for n in det.names()])].xyxy[0]
    assert dog[0] < 200 < dog[2] and dog[1] < 300 < dog[3]  # the dog sits lower left in the 768x576 picture


def test_yolox_street_finds_parked_cars(store: ModelStore) -> None:
    det = _detect(store, "yolox_nano", "mmdet_demo.jpg")
    assert 10 <= det.names().count("car") <= 16
    assert det.xyxy[:, 2].max() <= 640 and det.xyxy[:, 3].max() <= 427


@pytest.mark.parametrize("model", ["nanodet", "yolov8n_int8"])
def test_other_decoders_find_dog_and_bicycle(store: ModelStore, model: str) -> None:
    names = _detect(store, model, "dog.jpg").names()
    assert "dog" in names and "bicycle" in names


def test_detector_refuses_a_non_detection_model(store: ModelStore) -> None:
    shared_file("models", "face_detection_yunet_2023mar.onnx")
    spec, path = store.resolve("yunet_face")
    with pytest.raises(ValueError, match="not an object detector"):
        create_detector(spec, path, DetectorOptions())


@pytest.mark.parametrize("threshold", [0.05, 0.25, 0.5])
def test_yolox_decode_skips_low_objectness_rows_with_the_same_result(store: ModelStore, threshold: float) -> None:
    """The decoder scores only rows whose objectness reaches the threshold; the full (rows, classes) product must
    give the very same candidates, on real pictures and at several thresholds."""
    spec, path = store.resolve("yolox_nano")
    detector = create_detector(spec, path, DetectorOptions(score_threshold=threshold))
    for image in ("dog.jpg", "mmdet_demo.jpg", "coco_val2017_000000001000.jpg"):
        prepared = detector.prepare(cv2.imread(str(shared_file("media", image))))
        outputs = detector.run(prepared.blob)
        raw = outputs[0][0]
        scores = raw[:, 5:] * raw[:, 4:5]
        class_id = scores.argmax(axis=1)
        score = scores[np.arange(len(scores)), class_id]
        rows = np.nonzero(score >= threshold)[0]
        got = detector.decode(outputs)
        assert len(rows) > 0
        np.testing.assert_array_equal(got.score, score[rows])
        np.testing.assert_array_equal(got.class_id, class_id[rows])
        assert got.xyxy.shape == (len(rows), 4)
