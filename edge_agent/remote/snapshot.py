"""`cmd snapshot`: the camera's current frame as a privacy-safe JPEG, uploaded to the hub.

`PUT {hub_url}/api/v1/devices/{device_id}/snapshots/{cmd_id}`, body image/jpeg, device HTTP Basic auth and
`X-Content-SHA256`, like evidence. Faces are blurred before the picture leaves the box.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import cv2
import httpx
import numpy as np

from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.evidence.render import CONTENT_TYPE
from edge_agent.recorder import PlateBlur


@dataclass(frozen=True, slots=True)
class Snapshot:
    data: bytes
    sha256: str
    width: int
    height: int
    faces_blurred: int


def encode_snapshot(
    image_bgr: np.ndarray, blurrer: FaceBlurrer | None, jpeg_quality: int = 85, plate_blur: PlateBlur | None = None
) -> Snapshot:
    """JPEG of the frame with licence plates pixelated (`plate_blur`) and faces blurred (`blurrer`)."""
    image = plate_blur(image_bgr, ())[0] if plate_blur else image_bgr
    image, faces = blurrer.blur(image) if blurrer else (image, 0)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding of the snapshot failed")
    data = encoded.tobytes()
    return Snapshot(data, hashlib.sha256(data).hexdigest(), image.shape[1], image.shape[0], faces)


def upload_snapshot(
    client: httpx.Client, hub_url: str, device_id: str, cmd_id: str, camera_id: str | None, snapshot: Snapshot
) -> str:
    """Upload and return the cmd_result detail (JSON text); raises RuntimeError naming the HTTP failure.
    `camera_id` None: a picture of no camera of this device yet (a `probe` of a source to add)."""
    url = f"{hub_url.rstrip('/')}/api/v1/devices/{device_id}/snapshots/{cmd_id}"
    headers = {"Content-Type": CONTENT_TYPE, "X-Content-SHA256": snapshot.sha256}
    if camera_id is not None:
        headers["X-Camera-Id"] = camera_id
    try:
        response = client.put(url, content=snapshot.data, headers=headers)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"PUT {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code not in (200, 201, 204):
        raise RuntimeError(f"PUT {url}: HTTP {response.status_code}: {response.text[:200].strip()}")
    return json.dumps(
        {
            "camera_id": camera_id,
            "url": url,
            "sha256": snapshot.sha256,
            "bytes": len(snapshot.data),
            "content_type": CONTENT_TYPE,
            "width": snapshot.width,
            "height": snapshot.height,
            "faces_blurred": snapshot.faces_blurred,
        }
    )
