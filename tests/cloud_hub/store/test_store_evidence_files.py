"""FilesystemEvidenceStore: content-addressed, atomic, refuses bytes that do not match their sha256."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest

from cloud_hub.evidence.store import EvidenceError, EvidenceStoreFull, FilesystemEvidenceStore

JPEG = b"\xff\xd8\xff\xe0" + b"picture" * 100


def test_put_get_exists_and_idempotent(tmp_path: Path) -> None:
    store = FilesystemEvidenceStore(tmp_path)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert not store.exists(sha)
    path = store.put(sha, JPEG)
    assert Path(path) == tmp_path / sha[:2] / sha
    assert store.exists(sha) and store.get(sha) == JPEG
    assert store.put(sha, JPEG) == path
    assert [p.name for p in (tmp_path / sha[:2]).iterdir()] == [sha]  # no temp files left behind


def test_wrong_hash_and_bad_names_are_refused(tmp_path: Path) -> None:
    store = FilesystemEvidenceStore(tmp_path)
    with pytest.raises(EvidenceError, match="content sha256"):
        store.put("0" * 64, JPEG)
    with pytest.raises(EvidenceError, match="not a lowercase hex sha256"):
        store.get("../../etc/passwd")
    with pytest.raises(FileNotFoundError):
        store.get("a" * 64)


class _DiskFullOnce(FilesystemEvidenceStore):
    """The first write meets a full disk (a real one: tests/reliability/test_reliability_evidence_full.py)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fail_next = True

    def _write(self, path: Path, data: bytes) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError(errno.ENOSPC, "No space left on device")
        super()._write(path, data)


def test_a_full_disk_is_a_transient_refusal_reported_until_a_write_succeeds(tmp_path: Path) -> None:
    store = _DiskFullOnce(tmp_path)
    sha = hashlib.sha256(JPEG).hexdigest()
    with pytest.raises(EvidenceStoreFull, match="is full"):
        store.put(sha, JPEG)
    assert not store.exists(sha)
    status = store.status()
    assert status["full"] is True and status["refused_writes"] == 1 and status["kind"] == "filesystem"
    store.put(sha, JPEG)  # space is back
    assert store.exists(sha) and store.status()["full"] is False
