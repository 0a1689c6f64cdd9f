"""Webhook delivery against a real local HTTP receiver (issue 10): signed bodies from the live channel's messages,
retried with backoff when the receiver fails or hangs, dead-lettered after the limit and re-driven, a stuck
receiver holding up neither the others nor the work-order path; at least once, with a stable delivery id."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from webhook_kit import FAST, GRID1, open_order, pool_for, receiver, status_of, subscribe, wait_for

from cloud_hub.webhooks import signing
from cloud_hub.webhooks import store as hooks
from cloud_hub.webhooks.worker import WebhookSender
from cloud_hub.workorders import store as work_orders
from cloud_hub.workorders.state_machine import Actor

SECRET = "receiver-shared-secret-0123"
OFFICER = Actor(GRID1.officer, "officer")


@pytest.fixture(scope="module")
def pool(database_url: str) -> Iterator[ConnectionPool]:
    with pool_for(database_url) as p:
        yield p


@pytest.fixture
def sender(pool: ConnectionPool, conn: psycopg.Connection) -> Iterator[WebhookSender]:
    conn.execute("DELETE FROM webhook_subscriptions")  # each test starts with its own receivers only
    running = WebhookSender(pool, FAST)
    running.fan_out()  # the cursor starts at the present: nothing older is sent
    running.start()
    yield running
    running.stop()


def test_events_arrive_signed_with_a_stable_id(sender: WebhookSender, conn: psycopg.Connection) -> None:
    with receiver() as hook, receiver() as other:
        wanted = subscribe(conn, hook.url, ["incident.opened", "work_order.created"], SECRET)
        subscribe(conn, other.url, ["work_order.transition"])
        order = open_order(conn)
        wait_for("two deliveries", lambda: len(hook.received) >= 2 or None)
        assert other.received == []  # it asked for transitions only

        types = sorted(r.headers["x-cityops-event"] for r in hook.received)
        assert types == ["incident.opened", "work_order.created"]
        for got in hook.received:
            assert signing.verify(SECRET, got.headers, got.body, time.time())
            assert not signing.verify("another-secret-0123456789", got.headers, got.body, time.time())
            assert (
                got.json["id"] == got.headers["x-cityops-delivery"]
                and got.json["type"] == got.headers["x-cityops-event"]
            )
            assert got.headers["content-type"] == "application/json" and got.headers["x-cityops-attempt"] == "1"
        created = next(r.json for r in hook.received if r.json["type"] == "work_order.created")
        assert created["data"]["work_order"]["id"] == order
        assert [s["to"] for s in created["data"]["steps"]] == ["reported", "registered", "dispatched"]
        wait_for("both delivered", lambda: [s for s in status_of(conn, wanted) if s[1] == "delivered"] or None)
        assert sorted(s[1] for s in status_of(conn, wanted)) == ["delivered", "delivered"]


def test_a_failing_receiver_gets_the_same_delivery_again_until_it_recovers(
    sender: WebhookSender, conn: psycopg.Connection
) -> None:
    with receiver() as hook:
        hook.fail_first = 2
        sub = subscribe(conn, hook.url, ["work_order.created"], SECRET)
        open_order(conn)
        wait_for(
            "the delivery after two failures",
            lambda: status_of(conn, sub) == [("work_order.created", "delivered", 3)] or None,
        )
        assert len(hook.received) == 3
        assert len(set(hook.ids())) == 1, "every retry carries the same delivery id"
        assert len({r.body for r in hook.received}) == 1, "and the same body"
        assert [r.headers["x-cityops-attempt"] for r in hook.received] == ["1", "2", "3"]
        assert all(signing.verify(SECRET, r.headers, r.body, time.time()) for r in hook.received)
        failures, paused = conn.execute(
            "SELECT failures, retry_at FROM webhook_subscriptions WHERE id = %s", (sub,)
        ).fetchone()
        assert (failures, paused) == (0, None)  # a success ends the receiver's pause


def test_a_hanging_receiver_holds_up_neither_others_nor_the_work(
    sender: WebhookSender, conn: psycopg.Connection
) -> None:
    with receiver() as stuck, receiver() as healthy:
        stuck.mode = "hang"
        slow = subscribe(conn, stuck.url, ["work_order.created", "work_order.transition"])
        fine = subscribe(conn, healthy.url, ["work_order.created", "work_order.transition"])
        order = open_order(conn)
        wait_for("the stuck receiver holding a request", lambda: stuck.hanging > 0 or None)

        # While it hangs, officers work and the other receiver gets every event.
        with conn.transaction():
            work_orders.apply_transition(conn, order, "accepted", OFFICER)
        with conn.transaction():
            work_orders.apply_transition(conn, order, "on_site", OFFICER)
        wait_for("three deliveries to the healthy receiver", lambda: len(healthy.received) >= 3 or None)
        assert stuck.hanging > 0, "the stuck receiver still holds its request"
        assert [r.json["data"]["work_order"]["status"] for r in healthy.received] == [
            "dispatched",
            "accepted",
            "on_site",
        ]

        # The hang ended in a timeout, counted against the delivery; once the receiver answers, all arrive.
        wait_for(
            "a timed-out attempt",
            lambda: conn.execute(
                "SELECT 1 FROM webhook_deliveries WHERE subscription_id = %s AND last_error LIKE 'timed out%%'", (slow,)
            ).fetchone(),
        )
        stuck.mode = "ok"
        stuck.release.set()
        conn.execute(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now()"
            " WHERE subscription_id = %s AND status = 'dead'",
            (slow,),
        )
        wait_for(
            "the stuck receiver's three deliveries",
            lambda: [s[1] for s in status_of(conn, slow)] == ["delivered"] * 3 or None,
        )
        assert [s[1] for s in status_of(conn, fine)] == ["delivered"] * 3


def test_what_never_gets_through_is_dead_lettered_and_can_be_sent_again(
    sender: WebhookSender, conn: psycopg.Connection
) -> None:
    with receiver() as hook:
        hook.mode = "fail"
        sub = subscribe(conn, hook.url, ["work_order.created"])
        open_order(conn)
        wait_for("a dead letter", lambda: status_of(conn, sub) == [("work_order.created", "dead", 3)] or None)
        error, code = conn.execute(
            "SELECT last_error, last_status FROM webhook_deliveries WHERE subscription_id = %s", (sub,)
        ).fetchone()
        assert code == 503 and error.startswith("HTTP 503")
        time.sleep(FAST.retry.cap_s * 3)
        assert len(hook.received) == 3, "a dead letter is not tried again by itself"

        hook.mode = "ok"
        with conn.transaction():
            assert hooks.redeliver(conn, None, sub) == 1
        wait_for(
            "the re-driven delivery", lambda: status_of(conn, sub) == [("work_order.created", "delivered", 1)] or None
        )
        assert len(set(hook.ids())) == 1


def test_two_hub_replicas_queue_and_send_each_message_once(
    pool: ConnectionPool, conn: psycopg.Connection, database_url: str
) -> None:
    conn.execute("DELETE FROM webhook_subscriptions")
    with receiver() as hook, pool_for(database_url) as other_pool:
        first, second = WebhookSender(pool, FAST), WebhookSender(other_pool, FAST)
        first.fan_out()
        sub = subscribe(conn, hook.url, ["work_order.created", "work_order.transition"])
        first.start()
        second.start()
        try:
            orders = [open_order(conn) for _ in range(10)]
            for order in orders:
                with conn.transaction():
                    work_orders.apply_transition(conn, order, "accepted", OFFICER)
            wait_for("twenty deliveries", lambda: [s[1] for s in status_of(conn, sub)] == ["delivered"] * 20 or None)
        finally:
            first.stop()
            second.stop()
        assert len(hook.ids()) == 20 and len(set(hook.ids())) == 20
