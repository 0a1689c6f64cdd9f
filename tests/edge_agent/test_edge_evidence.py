from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from edge_testkit import shared_file
from face_judge import assert_faces_blurred

from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.evidence.render import render_evidence, write_evidence


@pytest.fixture(scope="module")
def blurrer() -> FaceBlurrer:
    return FaceBlurrer(shared_file("models", "face_detection_yunet_2023mar.onnx"))


def test_faces_are_unrecognisable_after_blurring(blurrer: FaceBlurrer) -> None:
    image = cv2.imread(str(shared_file("media", "coco_val2017_000000001000.jpg")))
    strict = FaceBlurrer(shared_file("models", "face_detection_yunet_2023mar.onnx"), score_threshold=0.5)
    before = len(strict.detect(image))
    assert before >= 10  # the group photo has about 12 faces
    blurred, count = blurrer.blur(image)
    assert count >= before
    assert len(strict.detect(blurred)) <= 1
    assert np.array_equal(image, cv2.imread(str(shared_file("media", "coco_val2017_000000001000.jpg"))))


@pytest.mark.parametrize("picture", ["coco_val2017_000000001000.jpg", "coco_val2017_000000005001.jpg"])
def test_an_independent_judge_sees_every_head_lose_its_detail(blurrer: FaceBlurrer, picture: str) -> None:
    """YOLOX finds the people and the detail of their head regions is measured: not YuNet judging itself."""
    image = cv2.imread(str(shared_file("media", picture)))
    blurred, _ = blurrer.blur(image)
    assert_faces_blurred(image, blurred)
    with pytest.raises(AssertionError, match="detail kept per head"):
        assert_faces_blurred(image, image)  # the judge is not blind: an untouched picture fails


def test_evidence_is_blurred_before_it_is_encoded(blurrer: FaceBlurrer, tmp_path: Path) -> None:
    image = cv2.imread(str(shared_file("media", "coco_val2017_000000001000.jpg")))
    original = image.copy()
    picture = render_evidence(
        image,
        box_xyxy=(10, 10, 100, 100),
        zone_px=np.array([[0, 0], [50, 0], [50, 50]]),
        label="car start 10s",
        ts=datetime(2026, 11, 22, 18, 31, tzinfo=UTC),
        blurrer=blurrer,
        max_width=320,
        jpeg_quality=80,
    )
    assert np.array_equal(image, original)  # the frame is never drawn on
    assert picture.faces_blurred >= 10
    assert picture.sha256 == hashlib.sha256(picture.data).hexdigest()
    assert picture.ref == {"sha256": picture.sha256, "content_type": "image/jpeg", "bytes": len(picture.data)}
    decoded = cv2.imdecode(np.frombuffer(picture.data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape[1] == 320  # scaled to max_width
    strict = FaceBlurrer(shared_file("models", "face_detection_yunet_2023mar.onnx"), score_threshold=0.5)
    assert len(strict.detect(cv2.resize(decoded, (640, 480)))) <= 1
    path = write_evidence(tmp_path / "evidence", "ev-1", picture)
    assert path.read_bytes() == picture.data and not list(path.parent.glob("*.tmp"))


def test_faces_are_detected_once_per_frame_object(tmp_path: Path) -> None:
    """Several events on one frame share its face detection; another frame object (even with the same pixels) is
    searched again, so a frame is never blurred with another frame's faces."""
    counting = FaceBlurrer(shared_file("models", "face_detection_yunet_2023mar.onnx"))
    searched: list[int] = []
    detect = counting.detect
    counting.detect = lambda image: (searched.append(id(image)), detect(image))[1]  # type: ignore[method-assign]
    image = cv2.imread(str(shared_file("media", "coco_val2017_000000001000.jpg")))
    first, count = counting.blur(image)
    again, count_again = counting.blur(image)
    assert len(searched) == 1 and count == count_again >= 10 and np.array_equal(first, again)
    copy = image.copy()
    _, count_copy = counting.blur(copy)
    assert len(searched) == 2 and count_copy == count
    counting.blur(np.zeros_like(image))
    counting.blur(image)  # only the last frame is remembered
    assert len(searched) == 4
