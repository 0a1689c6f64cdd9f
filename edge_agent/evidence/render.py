"""Annotated evidence JPEG: privacy blur, then zone outline, the vehicle's box and label, and the capture time."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from edge_agent.evidence.privacy import FaceBlurrer

CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True, slots=True)
class EvidenceImage:
    data: bytes
    sha256: str
    faces_blurred: int

    @property
    def ref(self) -> dict:
        """The event's `evidence` field."""
        return {"sha256": self.sha256, "content_type": CONTENT_TYPE, "bytes": len(self.data)}


def render_evidence(
    frame_bgr: np.ndarray,
    *,
    box_xyxy: tuple[float, float, float, float],
    zone_px: np.ndarray | None,
    label: str,
    ts: datetime,
    blurrer: FaceBlurrer | None,
    max_width: int = 1280,
    jpeg_quality: int = 85,
) -> EvidenceImage:
    """`box_xyxy` and `zone_px` in `frame_bgr` pixels; the frame itself is never modified."""
    image, faces = blurrer.blur(frame_bgr) if blurrer else (frame_bgr.copy(), 0)
    scale = 1.0
    if image.shape[1] > max_width:
        scale = max_width / image.shape[1]
        image = cv2.resize(image, (max_width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    thickness = max(1, round(image.shape[1] / 400))
    if zone_px is not None:
        cv2.polylines(image, [np.round(zone_px * scale).astype(np.int32)], True, (0, 200, 255), thickness)
    x1, y1, x2, y2 = (round(v * scale) for v in box_xyxy)
    cv2.rectangle(image, (x1, y1), (x2, y2), (0, 0, 255), thickness + 1)
    _put_label(image, label, (x1, max(0, y1 - 4)), thickness)
    _put_label(image, ts.strftime("%Y-%m-%d %H:%M:%S UTC"), (4, image.shape[0] - 6), thickness)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding of the evidence picture failed")
    data = encoded.tobytes()
    return EvidenceImage(data=data, sha256=hashlib.sha256(data).hexdigest(), faces_blurred=faces)


def _put_label(image: np.ndarray, text: str, origin: tuple[int, int], thickness: int) -> None:
    scale = 0.4 * thickness
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = origin
    y = max(y, h + base)
    cv2.rectangle(image, (x, y - h - base), (x + w + 2, y + base // 2), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x + 1, y - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def write_evidence(directory: Path, event_id: str, evidence: EvidenceImage) -> Path:
    """Write durably (fsync) so the outbox row that points at the file never outlives it after a power cut."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{event_id}.jpg"
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(evidence.data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
