"""Evidence bytes in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...), keyed by sha256.

Objects live at `<prefix>/ab/abcdef...` like the filesystem store's files. S3 writes are atomic per object
(a reader never sees half a picture), and the upload carries its SHA-256 checksum, so the server refuses bytes
damaged on the way. This is the only module that imports boto3.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from cloud_hub.evidence.store import EvidenceError, checked_sha256

_MISSING = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str  # no leading or trailing slash; may be empty

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"evidence URL {url!r} must look like s3://bucket or s3://bucket/prefix")
        return cls(parts.netloc, parts.path.strip("/"))

    def key(self, sha256: str) -> str:
        name = f"{sha256[:2]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name


@dataclass(frozen=True, slots=True)
class S3Options:
    endpoint_url: str | None = None  # None: AWS itself
    region: str = "us-east-1"
    access_key_id: str | None = None  # None: boto3's usual chain (environment, instance role, ...)
    secret_access_key: str | None = None


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


class S3EvidenceStore:
    def __init__(self, location: S3Location, options: S3Options = S3Options(), client: object | None = None) -> None:
        self.location = location
        self._client = client or boto3.client(
            "s3",
            endpoint_url=options.endpoint_url,
            region_name=options.region,
            aws_access_key_id=options.access_key_id,
            aws_secret_access_key=options.secret_access_key,
            config=Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 4, "mode": "standard"},
                # Self-hosted S3 servers are usually reached by path (http://host:9000/bucket/key).
                s3={"addressing_style": "path" if options.endpoint_url else "auto"},
            ),
        )

    def _key(self, sha256: str) -> str:
        return self.location.key(checked_sha256(sha256))

    def put(self, sha256: str, data: bytes) -> str:
        key = self._key(sha256)
        digest = hashlib.sha256(data).digest()
        if digest.hex() != sha256:
            raise EvidenceError(f"content sha256 is {digest.hex()}, not {sha256}")
        if not self.exists(sha256):
            self._client.put_object(
                Bucket=self.location.bucket,
                Key=key,
                Body=data,
                ContentType="image/jpeg",
                ChecksumSHA256=base64.b64encode(digest).decode(),
            )
        return f"s3://{self.location.bucket}/{key}"

    def get(self, sha256: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.location.bucket, Key=self._key(sha256))
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"s3://{self.location.bucket}/{self._key(sha256)}") from None
            raise
        return answer["Body"].read()

    def exists(self, sha256: str) -> bool:
        try:
            self._client.head_object(Bucket=self.location.bucket, Key=self._key(sha256))
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    def delete(self, sha256: str) -> bool:
        # S3 answers a delete of a missing key with success too; ask first to report what happened.
        if not self.exists(sha256):
            return False
        self._client.delete_object(Bucket=self.location.bucket, Key=self._key(sha256))
        return True

    def status(self) -> dict[str, Any]:
        # A bucket has no fixed size here; a refusing server shows as failed uploads (5xx) in the request metrics.
        return {"kind": "s3", "full": False}
