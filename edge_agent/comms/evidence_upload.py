"""Evidence upload: `PUT {hub_url}/api/v1/evidence/{event_id}` with the device's own credentials.

200/201 (and 200 for a repeat of the same bytes) mean the hub holds the picture. Anything else raises
EvidenceUploadError; the sender backs off and retries, and holds the event back until the upload succeeds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import httpx

from edge_agent.evidence.render import CONTENT_TYPE


class EvidenceUploadError(RuntimeError):
    pass


class EvidenceUploader(Protocol):
    def upload(self, event_id: str, path: Path, sha256: str) -> None: ...


class HttpEvidenceUploader:
    def __init__(self, hub_url: str, device_id: str, secret: str, timeout_s: float = 10.0) -> None:
        self.base = hub_url.rstrip("/")
        self._client = httpx.Client(auth=(device_id, secret), timeout=timeout_s)

    def upload(self, event_id: str, path: Path, sha256: str) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EvidenceUploadError(f"evidence file {path} unreadable: {exc}") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise EvidenceUploadError(f"evidence file {path} changed on disk (sha256 {actual}, event says {sha256})")
        url = f"{self.base}/api/v1/evidence/{event_id}"
        try:
            response = self._client.put(
                url, content=data, headers={"Content-Type": CONTENT_TYPE, "X-Content-SHA256": sha256}
            )
        except httpx.HTTPError as exc:
            raise EvidenceUploadError(f"PUT {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (200, 201, 204):
            return
        detail = response.text[:200].strip()
        if response.status_code == 409:
            detail = f"the hub holds different bytes for this event_id ({detail})"
        raise EvidenceUploadError(f"PUT {url}: HTTP {response.status_code}: {detail}")

    def close(self) -> None:
        self._client.close()
