"""Photos as evidence (issue 10): uploaded pictures checked (type, size, pixels, integrity), stored content-addressed
in the evidence store, served to whoever may see the order, and given to a transition by photo_id."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from workorder_rows import add_order, count, image_bytes, jpeg, login, noisy_jpeg

from cloud_hub.workorders.images import MAX_PHOTO_BYTES

GRID1, GRID3 = "nj-gulou-01", "nj-gulou-03"


@pytest.fixture(scope="module")
def order_id(client: TestClient, conn: psycopg.Connection) -> int:
    return add_order(conn, status="accepted", assignee="officer1", grid_id=GRID1, district="nj-gulou")


def upload(client: TestClient, order_id: int, data: bytes, user: str = "officer1", media: str = "image/jpeg", **params):
    return client.post(
        f"/api/v1/work-orders/{order_id}/photos",
        content=data,
        params=params,
        headers={**login(client, user), "Content-Type": media},
    )


def test_a_raw_jpeg_is_stored_with_its_exif_and_served_back(client: TestClient, order_id: int) -> None:
    data = jpeg(taken="2026:11:23 10:15:00", offset="+08:00", gps=(118.7969, 32.0603))
    created = upload(client, order_id, data, note="car still there")
    assert created.status_code == 201, created.text
    photo = created.json()
    assert photo["sha256"] == hashlib.sha256(data).hexdigest() and photo["bytes"] == len(data)
    assert (photo["content_type"], photo["width"], photo["height"]) == ("image/jpeg", 64, 48)
    assert datetime.fromisoformat(photo["taken_at"]) == datetime(2026, 11, 23, 2, 15, tzinfo=UTC)
    assert photo["lon"] == pytest.approx(118.7969, abs=1e-4) and photo["lat"] == pytest.approx(32.0603, abs=1e-4)
    assert (photo["note"], photo["uploaded_by"], photo["transition_id"]) == ("car still there", "officer1", None)
    served = client.get(photo["url"], headers=login(client, "officer2"))
    assert served.status_code == 404  # officer2 is not on grid 1's roster and does not hold the order
    served = client.get(photo["url"], headers=login(client, "commander1"))
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/jpeg" and photo["sha256"] in served.headers["etag"]


def test_a_multipart_png_with_fields_that_win_over_exif(client: TestClient, order_id: int) -> None:
    data = image_bytes("PNG")
    response = client.post(
        f"/api/v1/work-orders/{order_id}/photos",
        files={"file": ("street.png", data, "image/png")},
        data={"taken_at": "2026-11-23T09:00:00+08:00", "lon": "118.8", "lat": "32.05", "note": "路口东侧"},
        headers=login(client, "officer1"),
    )
    assert response.status_code == 201, response.text
    photo = response.json()
    assert (photo["content_type"], photo["lon"], photo["lat"], photo["note"]) == ("image/png", 118.8, 32.05, "路口东侧")
    assert datetime.fromisoformat(photo["taken_at"]) == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    listed = client.get(f"/api/v1/work-orders/{order_id}/photos", headers=login(client, "officer1")).json()
    assert photo["photo_id"] in {p["photo_id"] for p in listed["data"]}


@pytest.mark.parametrize(
    ("body", "media", "status", "words"),
    [
        (b"just some text, not a picture", "image/jpeg", 415, "not an image"),
        (image_bytes("GIF"), "image/jpeg", 415, "GIF images are not accepted"),
        (image_bytes("JPEG"), "text/plain", 415, "Content-Type text/plain"),
        (image_bytes("PNG", (7000, 7000), "1"), "image/png", 413, "pixels"),  # 49 Mpx in a few kB
        (noisy_jpeg()[: len(noisy_jpeg()) * 2 // 3], "image/jpeg", 422, "truncated"),
        (image_bytes("PNG", (300, 200))[:-200], "image/png", 422, "truncated"),
        (b"", "image/jpeg", 422, "empty"),
    ],
)
def test_what_is_not_a_photo_is_refused_clearly(
    client: TestClient, order_id: int, body: bytes, media: str, status: int, words: str
) -> None:
    refused = upload(client, order_id, body, media=media)
    assert refused.status_code == status, refused.text
    assert words in refused.json()["detail"]


def test_more_than_ten_megabytes_is_refused(client: TestClient, order_id: int, conn: psycopg.Connection) -> None:
    before = count(conn, "SELECT count(*) FROM work_order_photos")
    refused = upload(client, order_id, b"\xff" * (MAX_PHOTO_BYTES + 1))
    assert refused.status_code == 413 and str(MAX_PHOTO_BYTES) in refused.json()["detail"]
    assert count(conn, "SELECT count(*) FROM work_order_photos") == before


def test_bad_fields_name_the_field(client: TestClient, order_id: int) -> None:
    half = upload(client, order_id, jpeg(), lon=118.8)
    assert half.status_code == 422 and "lon and lat go together" in half.json()["detail"]
    naive = upload(client, order_id, jpeg(), taken_at="2026-11-23T10:00:00")
    assert naive.status_code == 422 and "taken_at" in naive.json()["detail"]


def test_photos_are_for_those_who_see_the_order(client: TestClient, conn: psycopg.Connection) -> None:
    elsewhere = add_order(conn, assignee="officer3", grid_id=GRID3, district="nj-gulou")
    assert upload(client, elsewhere, jpeg(), user="officer1").status_code == 404
    assert upload(client, elsewhere, jpeg(), user="tech1").status_code == 403
    assert upload(client, elsewhere, jpeg(), user="officer3").status_code == 201


def test_a_transition_takes_photos_as_its_evidence(client: TestClient, conn: psycopg.Connection) -> None:
    order_id = add_order(conn, status="on_site", assignee="officer1", grid_id=GRID1, district="nj-gulou")
    other = add_order(conn, status="on_site", assignee="officer1", grid_id=GRID1, district="nj-gulou")
    officer = login(client, "officer1")
    before = upload(client, order_id, jpeg(color="blue")).json()["photo_id"]
    after = upload(client, order_id, jpeg(color="green")).json()["photo_id"]
    foreign = upload(client, other, jpeg(color="white")).json()["photo_id"]
    url = f"/api/v1/work-orders/{order_id}/transitions"

    wrong = client.post(url, json={"to": "resolved", "photos": [foreign]}, headers=officer)
    assert wrong.status_code == 422 and f"{foreign} is not a photo of work order {order_id}" in wrong.json()["detail"]
    assert client.get(f"/api/v1/work-orders/{order_id}", headers=officer).json()["status"] == "on_site"  # unchanged

    resolved = client.post(
        url,
        json={"to": "resolved", "note": "car towed", "photos": [before, after], "evidence": "legacy"},
        headers=officer,
    )
    assert resolved.status_code == 200, resolved.text
    step = resolved.json()["transitions"][-1]
    assert step["to_status"] == "resolved" and step["evidence"] == "legacy"
    assert {p["photo_id"] for p in step["photos"]} == {before, after}
    assert all(p["transition_id"] == step["id"] for p in step["photos"])

    again = client.post(url, json={"to": "returned", "photos": [before]}, headers=login(client, "commander1"))
    assert again.status_code == 422 and f"already the evidence of transition {step['id']}" in again.json()["detail"]
    # After resolving, and even once it is closed, the officer may still add pictures.
    client.post(url, json={"to": "verified"}, headers=login(client, "commander1"))
    client.post(url, json={"to": "closed"}, headers=login(client, "commander1"))
    late = upload(client, order_id, jpeg(color="black"))
    assert late.status_code == 201
    detail = client.get(f"/api/v1/work-orders/{order_id}", headers=officer).json()
    assert detail["status"] == "closed" and len(detail["photos"]) == 3


def test_the_bytes_live_in_the_evidence_store_once(client: TestClient, order_id: int) -> None:
    data = jpeg(color="purple")
    first, second = upload(client, order_id, data).json(), upload(client, order_id, data).json()
    assert first["photo_id"] != second["photo_id"] and first["sha256"] == second["sha256"]
    evidence_dir = client.app.state.settings.evidence_dir
    assert (Path(evidence_dir) / first["sha256"][:2] / first["sha256"]).read_bytes() == data
