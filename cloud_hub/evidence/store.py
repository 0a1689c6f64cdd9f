"""Where evidence bytes live. Content-addressed: the same picture is stored once, whatever events link it."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from cloud_hub.evidence.capacity import StoreCapacity

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class EvidenceError(ValueError):
    pass


class EvidenceStoreFull(OSError):
    """The store has no room left (ENOSPC, EDQUOT); nothing was written. Transient: the upload may be retried once
    space is freed, so the API answers 507 with Retry-After instead of a 500."""


NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class EvidenceStore(Protocol):
    def put(self, sha256: str, data: bytes) -> str:
        """Store `data` (whose sha256 must be `sha256`); idempotent; returns the location to record."""

    def get(self, sha256: str) -> bytes:
        """The stored bytes; FileNotFoundError when absent."""

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> bool:
        """Remove the bytes (retention); True when something was removed, False when it was already gone."""

    def status(self) -> dict[str, Any]:
        """For /healthz: `kind`, and whether writes are being refused for lack of space (`full`)."""


def checked_sha256(sha256: str) -> str:
    """`sha256` when it is a lowercase hex sha256, else EvidenceError (keys never come from unchecked input)."""
    if not SHA256_PATTERN.fullmatch(sha256):
        raise EvidenceError(f"{sha256!r} is not a lowercase hex sha256")
    return sha256


class FilesystemEvidenceStore:
    """Files under `root/ab/abcdef...` (two-level fan-out keeps directories small). Writes are atomic: a temp
    file in the same directory, fsynced, then renamed, so a reader never sees a half-written picture."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.capacity = StoreCapacity()

    def _path(self, sha256: str) -> Path:
        sha256 = checked_sha256(sha256)
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> str:
        path = self._path(sha256)
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise EvidenceError(f"content sha256 is {actual}, not {sha256}")
        if path.is_file():
            return str(path)
        try:
            self._write(path, data)
        except OSError as exc:
            if exc.errno not in NO_SPACE_ERRNOS:
                raise
            self.capacity.refused_write()
            # The path goes to the hub's log (filename), never into the answer to the device (strerror).
            raise EvidenceStoreFull(exc.errno, "the evidence store is full", str(self.root)) from exc
        self.capacity.wrote()
        return str(path)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # a partial file of a full disk must not hold its space
            raise

    def get(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self._path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        try:
            free: int | None = shutil.disk_usage(self.root).free
        except OSError:  # not created yet: nothing was stored, so nothing is full either
            free = None
        return {"kind": "filesystem", "free_bytes": free, **self.capacity.as_dict(time.time())}
