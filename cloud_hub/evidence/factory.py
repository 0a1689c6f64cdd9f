"""The evidence store the settings ask for: `CITYOPS_EVIDENCE_URL` = file:///path or s3://bucket/prefix
(endpoint and credentials from `CITYOPS_EVIDENCE_S3_*`); unset means the directory `CITYOPS_EVIDENCE_DIR`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cloud_hub.core.config import HubSettings
from cloud_hub.evidence.store import EvidenceStore, FilesystemEvidenceStore


def open_evidence_store(settings: HubSettings) -> EvidenceStore:
    """One store per distinct configuration per process (an S3 client is costly to build, and thread-safe)."""
    secret = settings.evidence_s3_secret_access_key
    return _open(
        settings.evidence_url,
        str(settings.evidence_dir),
        settings.evidence_s3_endpoint_url,
        settings.evidence_s3_region,
        settings.evidence_s3_access_key_id,
        secret.get_secret_value() if secret is not None else None,
    )


@lru_cache(maxsize=8)
def _open(
    url: str | None,
    evidence_dir: str,
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> EvidenceStore:
    if not url:
        return FilesystemEvidenceStore(Path(evidence_dir))
    scheme = urlsplit(url).scheme
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ValueError(f"CITYOPS_EVIDENCE_URL {url!r}: a file URL needs an absolute path, e.g. file:///srv/ev")
        return FilesystemEvidenceStore(Path(unquote(parts.path)))
    if scheme == "s3":
        from cloud_hub.evidence.s3 import S3EvidenceStore, S3Location, S3Options  # boto3 only when S3 is used

        try:
            location = S3Location.parse(url)
        except ValueError as exc:
            raise ValueError(f"CITYOPS_EVIDENCE_URL: {exc}") from None
        return S3EvidenceStore(location, S3Options(endpoint_url, region, access_key_id, secret_access_key))
    raise ValueError(f"CITYOPS_EVIDENCE_URL {url!r} must start with file:// or s3://")
