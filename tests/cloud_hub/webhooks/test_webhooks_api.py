"""The webhook API for administrators (issue 10): subscriptions validated and audited, the secret shown once,
deliveries and dead letters visible, dead letters re-driven, a ping to test a receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from webhook_kit import FAST, open_order, pool_for, receiver, wait_for

from cloud_hub.seed.demo import DEMO_PASSWORD
from cloud_hub.webhooks import signing
from cloud_hub.webhooks.worker import WebhookSender


def _login(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def admin(client: TestClient) -> dict[str, str]:
    return _login(client, "admin", "admin-test-pw")


@pytest.fixture(scope="module")
def pool(database_url: str) -> Iterator[ConnectionPool]:
    with pool_for(database_url) as p:
        yield p


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"events": ["work_order.deleted"]}, "unknown event type 'work_order.deleted'; choose from incident.opened"),
        ({"events": []}, "events"),
        ({"url": "ftp://gateway.example/hook"}, "url"),
        ({"url": "https://user:pw@gateway.example/hook"}, "no credentials in the URL"),
        ({"secret": "short"}, "secret"),
    ],
)
def test_subscriptions_are_validated(client: TestClient, admin: dict[str, str], change: dict, words: str) -> None:
    body = {"name": "SMS gateway", "url": "https://sms.example/hook", "events": ["work_order.created"], **change}
    refused = client.post("/api/v1/webhooks/subscriptions", json=body, headers=admin)
    assert refused.status_code == 422 and words in refused.json()["detail"], refused.text


def test_the_secret_is_shown_once_and_every_change_is_recorded(client: TestClient, admin: dict[str, str]) -> None:
    body = {"name": "WeCom bot", "url": "https://wecom.example/hook", "events": ["work_order.created"]}
    created = client.post("/api/v1/webhooks/subscriptions", json=body, headers=admin)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert len(sub["secret"]) >= 32 and (sub["pending"], sub["dead"], sub["active"]) == (0, 0, True)
    read = client.get(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=admin).json()
    assert "secret" not in read and read["events"] == ["work_order.created"]
    listed = client.get("/api/v1/webhooks/subscriptions", headers=admin).json()
    assert sub["id"] in {s["id"] for s in listed["data"]} and all("secret" not in s for s in listed["data"])

    changed = client.patch(
        f"/api/v1/webhooks/subscriptions/{sub['id']}",
        json={"events": ["incident.opened", "incident.closed"], "active": False},
        headers=admin,
    )
    assert changed.status_code == 200 and "secret" not in changed.json()
    assert (changed.json()["events"], changed.json()["active"]) == (["incident.opened", "incident.closed"], False)
    rotated = client.patch(f"/api/v1/webhooks/subscriptions/{sub['id']}", json={"rotate_secret": True}, headers=admin)
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (sub["secret"], None)
    assert client.delete(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=admin).status_code == 404

    changes = client.get(
        "/api/v1/admin/changes", params={"entity": "webhook", "entity_id": str(sub["id"])}, headers=admin
    ).json()["data"]
    assert [c["action"] for c in changes] == ["delete", "rotate_secret", "update", "create"]
    assert all(sub["secret"] not in str(c) and rotated.json()["secret"] not in str(c) for c in changes)


def test_only_admins_manage_webhooks(client: TestClient) -> None:
    for user in ("commander1", "officer1", "tech1"):
        headers = _login(client, user)
        assert client.get("/api/v1/webhooks/subscriptions", headers=headers).status_code == 403
        assert client.get("/api/v1/webhooks/deliveries", headers=headers).status_code == 403
    assert client.get("/api/v1/webhooks/event-types").status_code == 401


def test_dead_letters_are_listed_and_redriven_and_a_ping_tests_the_receiver(
    client: TestClient, admin: dict[str, str], pool: ConnectionPool, conn: psycopg.Connection
) -> None:
    conn.execute("DELETE FROM webhook_subscriptions")
    sender = WebhookSender(pool, FAST)
    sender.fan_out()
    sender.start()
    try:
        with receiver() as hook:
            hook.mode = "fail"
            body = {
                "name": "DingTalk",
                "url": hook.url,
                "events": ["work_order.created"],
                "secret": "dingtalk-shared-secret-01",
            }
            sub = client.post("/api/v1/webhooks/subscriptions", json=body, headers=admin).json()
            open_order(conn)

            def dead() -> list[dict] | None:
                page = client.get(
                    "/api/v1/webhooks/deliveries",
                    params={"status": "dead", "subscription_id": sub["id"]},
                    headers=admin,
                ).json()
                return page["data"] or None

            [letter] = wait_for("a dead letter", dead)
            assert (letter["attempts"], letter["last_status"], letter["event_type"]) == (3, 503, "work_order.created")
            assert client.get(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=admin).json()["dead"] == 1
            detail = client.get(f"/api/v1/webhooks/deliveries/{letter['delivery_id']}", headers=admin).json()
            assert '"type":"work_order.created"' in detail["body"]

            hook.mode = "ok"
            again = client.post(f"/api/v1/webhooks/deliveries/{letter['delivery_id']}/redeliver", headers=admin)
            assert again.status_code == 200 and (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
            wait_for(
                "the re-driven delivery",
                lambda: (
                    client.get(f"/api/v1/webhooks/deliveries/{letter['delivery_id']}", headers=admin).json()["status"]
                    == "delivered"
                    or None
                ),
            )
            not_dead = client.post(f"/api/v1/webhooks/deliveries/{letter['delivery_id']}/redeliver", headers=admin)
            assert not_dead.status_code == 409 and "only dead letters" in not_dead.json()["detail"]
            none_left = client.post(f"/api/v1/webhooks/subscriptions/{sub['id']}/redeliver", headers=admin)
            assert none_left.json() == {"requeued": 0}

            ping = client.post(f"/api/v1/webhooks/subscriptions/{sub['id']}/ping", headers=admin)
            assert ping.status_code == 202 and ping.json()["event_type"] == "ping"
            got = wait_for("the ping", lambda: [r for r in hook.received if r.headers["x-cityops-event"] == "ping"])
            assert signing.verify("dingtalk-shared-secret-01", got[0].headers, got[0].body, time.time())
            assert got[0].json["data"] == {"subscription_id": sub["id"], "requested_by": "admin"}
    finally:
        sender.stop()
