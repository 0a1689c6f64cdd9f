"""GET /api/v1/live served by a real uvicorn hub over a real database: changes committed by another connection (as
another replica or an ingest worker would) reach the right users, a resumed stream gets exactly what it missed,
and the relay survives losing its connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from live_testkit import GRID2, ingest_events, work_order_of
from pydantic import SecretStr
from sse_client import SseStream

from cloud_hub.app import create_app
from cloud_hub.core.config import HubSettings
from cloud_hub.live import store
from cloud_hub.live.relay import RELAY_APPLICATION_NAME
from cloud_hub.seed.demo import DEMO_PASSWORD
from cloud_hub.workorders.state_machine import Actor, Status
from cloud_hub.workorders.store import apply_transition

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    settings = HubSettings(
        database_url=database_url,
        ingest=False,
        scheduler=False,
        demo_seed=True,
        jwt_secret=SecretStr("test-secret-for-live-channel-tests-0123456789"),
        admin_password=SecretStr("admin-test-pw"),
        rules_dir=REPO / "rules",
        evidence_dir=tmp_path_factory.mktemp("evidence"),
        http_port=port,
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "hub did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def token(hub: str, username: str, password: str = DEMO_PASSWORD) -> str:
    response = httpx.post(f"{hub}/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def stream(hub: str, username: str, **params: str) -> SseStream:
    sse = SseStream(f"{hub}/api/v1/live", headers={"Authorization": f"Bearer {token(hub, username)}"}, params=params)
    assert sse.status_code == 200, getattr(sse, "body", "")
    hello = sse.next()
    assert hello.event == "hello" and hello.id is None
    assert hello.json()["user"] == username
    return sse


def test_a_new_work_order_reaches_the_officer_of_its_grid_and_not_the_others(hub: str, database_url: str) -> None:
    officer1, officer2, technician = stream(hub, "officer1"), stream(hub, "officer2"), stream(hub, "tech1")
    commander = stream(hub, "commander1", topics="work_order")
    try:
        with psycopg.connect(database_url) as conn:
            ingest_events(conn, "live/api/1")  # grid 1: officer1's
        incident = officer1.next()
        assert incident.event == "incident" and incident.json()["op"] == "opened"
        assert incident.json()["data"]["incident_key"] == "live/api/1"
        created = officer1.next()
        assert created.event == "work_order" and created.json()["op"] == "created"
        assert created.json()["data"]["work_order"]["assignee"] == "officer1"
        assert created.id is not None and created.id == created.json()["id"]
        assert (
            commander.next_of("work_order").json()["data"]["work_order"]["id"]
            == created.json()["data"]["work_order"]["id"]
        )
        with psycopg.connect(database_url) as conn:
            ingest_events(conn, "live/api/2", location=GRID2)  # grid 2: officer2's
        assert officer2.next_of("work_order").json()["data"]["work_order"]["grid_id"] == "nj-gulou-02"
        assert officer1.nothing_within(1.0)
        assert technician.nothing_within(0.5)  # neither is a camera fault
    finally:
        for sse in (officer1, officer2, technician, commander):
            sse.close()


def test_every_transition_is_pushed_to_the_assignee(hub: str, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        ingest_events(conn, "live/api/3")
        order_id = work_order_of(conn, "live/api/3")
    officer1 = stream(hub, "officer1", topics="work_order")
    try:
        with psycopg.connect(database_url) as conn:
            apply_transition(conn, order_id, Status.ACCEPTED, Actor("officer1", "officer"))
        with psycopg.connect(database_url) as conn:
            apply_transition(conn, order_id, Status.ON_SITE, Actor("officer1", "officer"))
        steps = [officer1.next_of("work_order").json()["data"]["steps"][0]["to"] for _ in range(2)]
        assert steps == ["accepted", "on_site"]
    finally:
        officer1.close()


def test_a_resumed_stream_gets_exactly_what_it_missed(hub: str, database_url: str) -> None:
    officer1 = stream(hub, "officer1", topics="work_order")
    with psycopg.connect(database_url) as conn:
        ingest_events(conn, "live/api/4")
    seen = officer1.next_of("work_order")
    officer1.close()
    with psycopg.connect(database_url) as conn:  # while officer1 is away
        ingest_events(conn, "live/api/5")
        ingest_events(conn, "live/api/6", location=GRID2)  # not officer1's
        ingest_events(conn, "live/api/7")
    resumed = SseStream(
        f"{hub}/api/v1/live",
        headers={"Authorization": f"Bearer {token(hub, 'officer1')}", "Last-Event-ID": str(seen.id)},
        params={"topics": "work_order"},
    )
    try:
        assert resumed.next().event == "hello"
        missed = [resumed.next_of("work_order").json()["data"]["work_order"] for _ in range(2)]
        with psycopg.connect(database_url) as conn:
            keys = dict(conn.execute("SELECT w.id, i.incident_key FROM work_orders w JOIN incidents i"
                                     " ON i.id = w.incident_id").fetchall())  # fmt: skip
        assert [keys[w["id"]] for w in missed] == ["live/api/5", "live/api/7"]
        assert resumed.nothing_within(1.0)
    finally:
        resumed.close()


def test_a_stream_resuming_from_before_the_pruned_messages_is_told_to_resync(hub: str, database_url: str) -> None:
    officer1 = stream(hub, "officer1", topics="work_order")
    with psycopg.connect(database_url) as conn:
        ingest_events(conn, "live/api/8")
    seen = officer1.next_of("work_order")
    officer1.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        ingest_events(conn, "live/api/9")
        conn.execute("UPDATE live_messages SET at = at - interval '2 hours'")
        store.prune(conn, datetime.now(UTC) - timedelta(hours=1))
    resumed = SseStream(
        f"{hub}/api/v1/live",
        headers={"Authorization": f"Bearer {token(hub, 'officer1')}"},
        params={"topics": "work_order", "last_event_id": str(seen.id)},
    )
    try:
        assert resumed.next().event == "hello"
        resync = resumed.next()
        assert resync.event == "resync" and "pruned" in resync.json()["reason"]
        with psycopg.connect(database_url) as conn:
            assert resync.id == str(store.head(conn))
    finally:
        resumed.close()


def test_the_relay_reconnects_and_loses_nothing(hub: str, database_url: str) -> None:
    officer1 = stream(hub, "officer1", topics="work_order")
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                (RELAY_APPLICATION_NAME,),
            ).fetchall()
            assert killed, "the relay's connection was not found"
            ingest_events(conn, "live/api/10")  # committed while the relay reconnects
        got = officer1.next_of("work_order", timeout_s=15)
        assert got.json()["data"]["work_order"]["assignee"] == "officer1"
    finally:
        officer1.close()


def test_the_browser_form_and_the_refusals(hub: str) -> None:
    by_query = SseStream(f"{hub}/api/v1/live", params={"access_token": token(hub, "tech1")})
    try:
        hello = by_query.next().json()
        assert hello["role"] == "technician" and hello["topics"] == ["device", "incident", "mode"]
    finally:
        by_query.close()
    refused = SseStream(f"{hub}/api/v1/live")
    assert refused.status_code == 401 and "not logged in" in refused.body
    bad = SseStream(f"{hub}/api/v1/live", params={"access_token": token(hub, "officer1"), "last_event_id": "x"})
    assert bad.status_code == 422 and "expected <txid>.<id>" in bad.body
    unknown = SseStream(f"{hub}/api/v1/live", params={"access_token": token(hub, "officer1"), "topics": "alarms"})
    assert unknown.status_code == 422 and "unknown alarms" in unknown.body
