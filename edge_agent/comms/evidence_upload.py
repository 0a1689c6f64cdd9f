"""Evidence upload: `PUT {hub_url}/api/v1/evidence/{event_id}` with the device's own credentials.

200/201 (and 200 for a repeat of the same bytes) mean the hub holds the picture. Anything else raises
EvidenceUploadError, which says whether trying again can help (`permanent`): a file that is gone or changed, or a
hub that refuses the picture itself (409 other bytes stored, 413 too large, 415/422 not acceptable), never will;
the network, timeouts, 5xx, and 401/403/429 (credentials being rotated, rate limits) may, after a backoff.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import httpx

from edge_agent.evidence.render import CONTENT_TYPE

# 4xx that are about the caller's credentials or pace, not the picture: the same bytes may go through later.
TRANSIENT_CLIENT_ERRORS = frozenset({401, 403, 408, 429})


class EvidenceUploadError(RuntimeError):
    def __init__(self, message: str, *, permanent: bool = False, reason: str = "upload_failed") -> None:
        """`reason` is the `evidence_missing.reason` an event sent without this picture carries."""
        super().__init__(message)
        self.permanent = permanent
        self.reason = reason


class EvidenceUploader(Protocol):
    def upload(self, event_id: str, path: Path, sha256: str) -> None: ...


def status_is_permanent(status_code: int) -> bool:
    """True when the hub's answer means these bytes will never be accepted for this event_id."""
    return 400 <= status_code < 500 and status_code not in TRANSIENT_CLIENT_ERRORS


class HttpEvidenceUploader:
    def __init__(self, hub_url: str, device_id: str, secret: str, timeout_s: float = 10.0) -> None:
        self.base = hub_url.rstrip("/")
        self._client = httpx.Client(auth=(device_id, secret), timeout=timeout_s)

    def upload(self, event_id: str, path: Path, sha256: str) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EvidenceUploadError(
                f"evidence file {path} unreadable: {exc}", permanent=True, reason="file_missing"
            ) from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise EvidenceUploadError(
                f"evidence file {path} changed on disk (sha256 {actual}, event says {sha256})",
                permanent=True,
                reason="file_changed",
            )
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
        permanent = status_is_permanent(response.status_code)
        raise EvidenceUploadError(
            f"PUT {url}: HTTP {response.status_code}: {detail}",
            permanent=permanent,
            reason="rejected" if permanent else "upload_failed",
        )

    def close(self) -> None:
        self._client.close()
