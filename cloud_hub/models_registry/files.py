"""Model files on disk, content-addressed: `root/ab/abcdef...` by sha256.

Uploads stream into a temporary file in `root/.incoming` while their sha256 is computed, are fsynced, and are
renamed into place only when complete, so a reader (a device downloading) never sees a partial file and the same
model uploaded twice is stored once. Large files never pass through memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cloud_hub.core.config import HubSettings

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MODELS_DIR_NAME = "models"


class ModelFileError(ValueError):
    pass


class ModelTooLarge(ModelFileError):
    pass


def models_dir(settings: HubSettings) -> Path:
    """`CITYOPS_MODELS_DIR`, or `models/` beside the evidence directory (both are the hub's state)."""
    configured = settings.models_dir
    return Path(configured) if configured else Path(settings.evidence_dir).parent / MODELS_DIR_NAME


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    bytes: int
    path: Path
    created: bool  # False when the same content was already stored


class IncomingFile:
    """One upload in progress: `write` chunks, then `commit` (or `abort`). Not thread-safe; one writer."""

    def __init__(self, store: ModelFileStore, max_bytes: int) -> None:
        self._store = store
        self._max_bytes = max_bytes
        self._digest = hashlib.sha256()
        self.size = 0
        incoming = store.root / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", dir=incoming)
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max_bytes:
            self.abort()
            raise ModelTooLarge(f"model file is larger than {self._max_bytes} bytes (CITYOPS_MODEL_MAX_BYTES)")
        self._digest.update(chunk)
        self._file.write(chunk)

    def commit(self) -> StoredFile:
        if self.size == 0:
            self.abort()
            raise ModelFileError("empty model file; send the file's bytes")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha256 = self._digest.hexdigest()
        final = self._store.path(sha256)
        if final.is_file():
            self._path.unlink(missing_ok=True)
            return StoredFile(sha256, self.size, final, created=False)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path, final)
        return StoredFile(sha256, self.size, final, created=True)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._path.unlink(missing_ok=True)


class ModelFileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not SHA256_PATTERN.fullmatch(sha256):
            raise ModelFileError(f"{sha256!r} is not a lowercase hex sha256")
        return self.root / sha256[:2] / sha256

    def begin(self, max_bytes: int) -> IncomingFile:
        return IncomingFile(self, max_bytes)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True
