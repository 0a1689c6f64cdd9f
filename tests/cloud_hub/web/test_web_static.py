"""The built web files as the hub sends them: the build's gzip copy to a browser that accepts gzip (the same bytes
once decoded, the original type, cached as before), the original to one that does not."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud_hub.api.web import mount_web

SCRIPT = b"export const greeting = '" + b"hello, city " * 400 + b"'\n"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    (tmp_path / "index.html").write_text("<!doctype html><title>CityOps</title>")
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "app-1a2b3c.js").write_bytes(SCRIPT)
    (assets / "app-1a2b3c.js.gz").write_bytes(gzip.compress(SCRIPT))
    (assets / "small-4d5e6f.css").write_text("body{margin:0}")  # under the build's 1 KiB: no copy
    app = FastAPI()
    mount_web(app, tmp_path)
    return TestClient(app)


def test_a_browser_that_accepts_gzip_gets_the_compressed_copy(client: TestClient) -> None:
    response = client.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(SCRIPT) / 5
    assert response.content == SCRIPT  # decoded by the client, as a browser does
    assert "javascript" in response.headers["content-type"]
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_client_without_gzip_gets_the_original(client: TestClient) -> None:
    response = client.get("/assets/app-1a2b3c.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.content == SCRIPT and int(response.headers["content-length"]) == len(SCRIPT)
    assert response.headers["vary"] == "Accept-Encoding"


def test_files_without_a_copy_and_missing_files(client: TestClient) -> None:
    small = client.get("/assets/small-4d5e6f.css", headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 200 and "content-encoding" not in small.headers and small.text == "body{margin:0}"
    assert client.get("/assets/nope.js", headers={"Accept-Encoding": "gzip"}).status_code == 404
    # The copy is not a file of its own to ask for by another name than the original's.
    assert client.get("/assets/app-1a2b3c.js.gz").headers.get("content-encoding") is None
