"""S3EvidenceStore against a real S3-compatible server (moto_server from the moto[server] package, run here)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_hub.core.config import HubSettings
from cloud_hub.evidence.factory import open_evidence_store
from cloud_hub.evidence.s3 import S3EvidenceStore, S3Location, S3Options
from cloud_hub.evidence.store import EvidenceError, FilesystemEvidenceStore

boto3 = pytest.importorskip("boto3")
MOTO = shutil.which("moto_server") or str(Path(__file__).resolve().parents[3] / ".venv/bin/moto_server")
JPEG = b"\xff\xd8\xff\xe0" + b"picture" * 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    if not Path(MOTO).exists():
        pytest.skip("moto_server not installed (pip install 'moto[server]')")
    port = _free_port()
    proc = subprocess.Popen(
        [MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not start on port {port}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def options(endpoint: str) -> S3Options:
    opts = S3Options(endpoint_url=endpoint, region="us-east-1", access_key_id="test", secret_access_key="test")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket="evidence")  # fmt: skip
    return opts


def test_put_get_exists_delete(options: S3Options) -> None:
    store = S3EvidenceStore(S3Location.parse("s3://evidence/city/pics/"), options)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert not store.exists(sha)
    with pytest.raises(FileNotFoundError):
        store.get(sha)
    where = store.put(sha, JPEG)
    assert where == f"s3://evidence/city/pics/{sha[:2]}/{sha}"
    assert store.put(sha, JPEG) == where  # idempotent
    assert store.exists(sha) and store.get(sha) == JPEG
    with pytest.raises(EvidenceError, match="content sha256"):
        store.put("0" * 64, JPEG)
    with pytest.raises(EvidenceError, match="not a lowercase hex sha256"):
        store.get("../etc/passwd")
    assert store.delete(sha) is True and store.delete(sha) is False
    assert not store.exists(sha)


def test_settings_choose_the_store(options: S3Options, tmp_path: Path) -> None:
    s3 = open_evidence_store(HubSettings(
        evidence_url="s3://evidence", evidence_s3_endpoint_url=options.endpoint_url,
        evidence_s3_access_key_id="test", evidence_s3_secret_access_key="test",
    ))  # fmt: skip
    assert isinstance(s3, S3EvidenceStore) and s3.location == S3Location("evidence", "")
    sha = hashlib.sha256(JPEG).hexdigest()
    assert s3.put(sha, JPEG) == f"s3://evidence/{sha[:2]}/{sha}"
    files = open_evidence_store(HubSettings(evidence_url=f"file://{tmp_path}"))
    assert isinstance(files, FilesystemEvidenceStore) and files.root == tmp_path
    default = open_evidence_store(HubSettings(evidence_dir=tmp_path / "ev"))
    assert isinstance(default, FilesystemEvidenceStore) and default.root == tmp_path / "ev"
    for bad, message in (("ftp://x/y", "must start with file:// or s3://"), ("s3:///nobucket", "s3://bucket"),
                         ("file://host/path", "absolute path")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            open_evidence_store(HubSettings(evidence_url=bad))
