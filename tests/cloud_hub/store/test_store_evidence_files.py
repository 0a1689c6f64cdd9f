"""FilesystemEvidenceStore: content-addressed, atomic, refuses bytes that do not match their sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cloud_hub.evidence.store import EvidenceError, FilesystemEvidenceStore

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
