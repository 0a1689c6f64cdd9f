"""The ONNX Runtime YuNet path finds the faces OpenCV's own `cv2.FaceDetectorYN` finds, on real pictures.

Face blurring is the privacy guarantee of every evidence picture, so the faster path must not miss a face the
reference implementation finds: same count, and every reference box matched at IoU >= 0.99, at the blurrer's
threshold and at a low one (which keeps the borderline candidates in play too).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from edge_testkit import shared_file

from edge_agent.evidence.yunet import YuNetFaces

MODEL = "face_detection_yunet_2023mar.onnx"


def _pictures() -> list[tuple[str, np.ndarray]]:
    group = cv2.imread(str(shared_file("media", "coco_val2017_000000001000.jpg")), cv2.IMREAD_COLOR)
    pictures = [
        ("group photo 640x480", group),
        # Not a multiple of 32 either way: exercises the bottom/right padding.
        ("group photo cropped 617x459", np.ascontiguousarray(group[7:466, 11:628])),
    ]
    capture = cv2.VideoCapture(str(shared_file("media", "mmdet_demo.mp4")))
    try:
        for index in (0, 22, 66):  # 1280x720 street frames with one or two small faces
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            assert ok, f"cannot read frame {index} of mmdet_demo.mp4"
            pictures.append((f"mmdet_demo frame {index} 1280x720", frame))
    finally:
        capture.release()
    return pictures


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter))


@pytest.mark.parametrize("threshold", [0.3, 0.1])
def test_same_faces_as_opencv_face_detector(threshold: float) -> None:
    model = shared_file("models", MODEL)
    ours = YuNetFaces(model, threshold, 0.3)
    reference = cv2.FaceDetectorYN.create(str(model), "", (320, 320), threshold, 0.3, 5000)
    compared = 0
    for name, picture in _pictures():
        reference.setInputSize((picture.shape[1], picture.shape[0]))
        _, expected = reference.detect(picture)
        expected = np.zeros((0, 4), np.float32) if expected is None else expected[:, :4]
        found = ours.detect(picture)
        print(f"threshold {threshold} {name}: OpenCV {len(expected)} faces, ONNX Runtime {len(found)}")
        assert len(found) == len(expected), name
        for box in expected:
            best = max((_iou(box, other) for other in found), default=0.0)
            assert best >= 0.99, f"{name}: OpenCV's face {box.tolist()} has no match (best IoU {best:.3f})"
        compared += len(expected)
    assert compared >= 20, "too few faces compared for the check to mean anything"


def test_a_model_that_is_not_yunet_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"outputs .* missing"):
        YuNetFaces(shared_file("models", "license_plate_detection_lpd_yunet_2023mar.onnx"), 0.3, 0.3)
