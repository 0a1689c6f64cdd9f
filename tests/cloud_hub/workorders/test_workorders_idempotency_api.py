"""Idempotency-Key on the officer app's queued actions: a retry gets the first answer and acts no second time, also
when two copies race; the same key for another request is refused; keys expire after 7 days."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from workorder_rows import add_order, count, jpeg, login

from cloud_hub.workorders.idempotency import Answer, RequestPrint, claim, prune_idempotency_keys

GRID1 = "nj-gulou-01"


def transitions_of(conn: psycopg.Connection, order_id: int) -> int:
    return count(conn, "SELECT count(*) FROM work_order_transitions WHERE work_order_id = %s", order_id)


def test_a_retried_transition_answers_the_same_and_acts_once(client: TestClient, conn: psycopg.Connection) -> None:
    order_id = add_order(conn, assignee="officer1", grid_id=GRID1)
    headers = {**login(client, "officer1"), "Idempotency-Key": "accept-1"}
    url = f"/api/v1/work-orders/{order_id}/transitions"
    first = client.post(url, json={"to": "accepted", "note": "on my way"}, headers=headers)
    assert first.status_code == 200, first.text
    n = transitions_of(conn, order_id)
    retry = client.post(url, json={"note": "on my way", "to": "accepted"}, headers=headers)  # same body, other order
    assert (retry.status_code, retry.json()) == (200, first.json())
    assert retry.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert transitions_of(conn, order_id) == n


def test_the_same_key_for_another_request_is_refused(client: TestClient, conn: psycopg.Connection) -> None:
    order_id = add_order(conn, assignee="officer1", grid_id=GRID1)
    headers = {**login(client, "officer1"), "Idempotency-Key": "reused-key"}
    url = f"/api/v1/work-orders/{order_id}/transitions"
    assert client.post(url, json={"to": "accepted"}, headers=headers).status_code == 200
    other_body = client.post(url, json={"to": "on_site"}, headers=headers)
    assert other_body.status_code == 422
    assert "'reused-key'" in other_body.json()["detail"] and "different body" in other_body.json()["detail"]
    other_path = client.post(f"/api/v1/work-orders/{order_id}/photos", content=jpeg(), headers=headers)
    assert other_path.status_code == 422 and "'reused-key' was already used for POST" in other_path.json()["detail"]
    # Another user's key of the same name is theirs alone.
    commander = {**login(client, "commander1"), "Idempotency-Key": "reused-key"}
    assert client.post(url, json={"to": "suspended"}, headers=commander).status_code == 200


def test_a_refusal_is_kept_for_the_retry_too(client: TestClient, conn: psycopg.Connection) -> None:
    order_id = add_order(conn, assignee="officer1", grid_id=GRID1)
    headers = {**login(client, "officer1"), "Idempotency-Key": "too-early"}
    url = f"/api/v1/work-orders/{order_id}/transitions"
    refused = client.post(url, json={"to": "resolved"}, headers=headers)
    assert refused.status_code == 409
    replay = client.post(url, json={"to": "resolved"}, headers=headers)
    assert replay.status_code == 409 and replay.json()["detail"] == refused.json()["detail"]
    assert replay.headers["idempotent-replayed"] == "true"


def test_a_retried_photo_upload_stores_one_photo(client: TestClient, conn: psycopg.Connection) -> None:
    order_id = add_order(conn, assignee="officer1", grid_id=GRID1)
    headers = {**login(client, "officer1"), "Idempotency-Key": "photo-1", "Content-Type": "image/jpeg"}
    url = f"/api/v1/work-orders/{order_id}/photos"
    data = jpeg(color="orange")
    first = client.post(url, content=data, params={"note": "n"}, headers=headers)
    retry = client.post(url, content=data, params={"note": "n"}, headers=headers)
    assert first.status_code == retry.status_code == 201 and retry.json() == first.json()
    assert count(conn, "SELECT count(*) FROM work_order_photos WHERE work_order_id = %s", order_id) == 1
    changed = client.post(url, content=data, params={"note": "other"}, headers=headers)
    assert changed.status_code == 422


def test_bad_keys_are_refused(client: TestClient, conn: psycopg.Connection) -> None:
    order_id = add_order(conn, assignee="officer1", grid_id=GRID1)
    url = f"/api/v1/work-orders/{order_id}/transitions"
    for key in ("", "k" * 201):
        response = client.post(
            url, json={"to": "accepted"}, headers={**login(client, "officer1"), "Idempotency-Key": key}
        )
        assert response.status_code == 422 and "idempotency-key" in response.text.lower()


@pytest.mark.parametrize("kind", ["transition", "photo"])
def test_two_racing_copies_act_once(client: TestClient, conn: psycopg.Connection, kind: str) -> None:
    order_id = add_order(conn, assignee="officer1", grid_id=GRID1)
    headers = {**login(client, "officer1"), "Idempotency-Key": f"race-{kind}"}
    data = jpeg(color="yellow")
    start = threading.Barrier(2)
    answers: list = [None, None]

    def send(slot: int) -> None:
        start.wait()
        if kind == "transition":
            answers[slot] = client.post(
                f"/api/v1/work-orders/{order_id}/transitions", json={"to": "accepted"}, headers=headers
            )
        else:
            answers[slot] = client.post(
                f"/api/v1/work-orders/{order_id}/photos",
                content=data,
                headers={**headers, "Content-Type": "image/jpeg"},
            )

    threads = [threading.Thread(target=send, args=(slot,)) for slot in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} == ({200} if kind == "transition" else {201})
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("idempotent-replayed", "-") for a in answers) == ["-", "true"]
    assert count(conn, "SELECT count(*) FROM work_order_transitions WHERE work_order_id = %s AND to_status ="
                 " 'accepted'", order_id) == (1 if kind == "transition" else 0)  # fmt: skip
    assert count(conn, "SELECT count(*) FROM work_order_photos WHERE work_order_id = %s", order_id) == (
        1 if kind == "photo" else 0
    )


def test_keys_expire_after_seven_days(conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    request = RequestPrint.of("POST", "/api/v1/work-orders/1/transitions", {"to": "accepted"})
    with conn.transaction():
        assert claim(conn, "officer1", "old-key", request, now - timedelta(days=8)) is None
    with conn.transaction():
        # Expired: a new request may use it again (it is claimed anew, not replayed or refused).
        other = RequestPrint.of("POST", "/api/v1/work-orders/2/transitions", {"to": "accepted"})
        assert claim(conn, "officer1", "old-key", other, now) is None
        conn.execute("UPDATE idempotency_keys SET status_code = 200, body = '{}' WHERE key = 'old-key'")
    with conn.transaction():
        assert claim(conn, "officer1", "old-key", other, now) == Answer(200, {})
    with conn.transaction():
        assert claim(conn, "officer1", "older-key", request, now - timedelta(days=9)) is None
    assert prune_idempotency_keys(conn, now) >= 1
    assert count(conn, "SELECT count(*) FROM idempotency_keys WHERE key IN ('old-key', 'older-key')") == 1
