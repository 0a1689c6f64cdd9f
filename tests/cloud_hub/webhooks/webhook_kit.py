"""A real local HTTP receiver (http.server in a thread) whose behaviour a test switches: answer 2xx, fail with a
status, or hang until released; and helpers that make the hub write live messages (a work order opened, moved)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from cloud_hub.reports import store as report_store
from cloud_hub.seed.demo import DEMO_GRIDS
from cloud_hub.webhooks import signing
from cloud_hub.webhooks.worker import DeliveryPolicy
from cloud_hub.workorders import store as work_orders

T = TypeVar("T")
GRID1 = DEMO_GRIDS[0]
# Small numbers so retries happen within a test; real timeouts and backoff, no clock is faked.
FAST = DeliveryPolicy(
    retry=signing.RetryPolicy(base_s=0.05, cap_s=0.2, max_attempts=3),
    timeout_s=0.5,
    lease_s=5.0,
    workers=4,
    burst=50,
    poll_s=0.05,
)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Behaviour: `mode` 'ok' | 'fail' | 'hang'; `fail_first` answers 500 to that many requests first."""

    url: str = ""
    mode: str = "ok"
    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    hanging: int = 0  # requests currently held by 'hang'
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], body: bytes) -> int | None:
        with self.lock:
            self.received.append(Received(headers, body))
            if self.fail_first > 0:
                self.fail_first -= 1
                return 500
            mode = self.mode
            if mode == "hang":
                self.hanging += 1
        if mode == "hang":
            self.release.wait(30)
            with self.lock:
                self.hanging -= 1
            return None  # the sender gave up long ago: answer nothing
        return 204 if mode == "ok" else 503

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers["x-cityops-delivery"] for r in self.received]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            code = state.handle({k.lower(): v for k, v in self.headers.items()}, body)
            if code is None:
                return
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 30, interval_s: float = 0.05) -> T:
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


def open_order(conn: psycopg.Connection) -> int:
    """An incident and its work order dispatched to officer1 (writes incident.opened and work_order.created)."""
    with conn.transaction():
        incident = report_store.insert_incident(
            conn,
            report_store.ReportIncident(
                f"test/{uuid.uuid4().hex}",
                "illegal_parking",
                None,
                "yellow",
                118.7969,
                32.0603,
                GRID1.grid_id,
                "nj-gulou",
                datetime.now(UTC),
            ),
        )
        [order] = work_orders.create_work_orders(
            conn,
            [
                work_orders.NewWorkOrder(
                    incident, "illegal_parking", None, "yellow", GRID1.grid_id, "nj-gulou", GRID1.officer, None
                )
            ],
        )
    return order


def pool_for(database_url: str) -> ConnectionPool:
    pool = ConnectionPool(database_url, min_size=1, max_size=8, kwargs={"autocommit": False}, open=True)
    pool.wait(timeout=30)
    return pool


def subscribe(conn: psycopg.Connection, url: str, events: list[str], secret: str = "s" * 24) -> int:
    from cloud_hub.webhooks import store as hooks

    with conn.transaction():
        return int(hooks.create_subscription(conn, "test receiver", url, events, secret, True, "admin")["id"])


def status_of(conn: psycopg.Connection, subscription_id: int) -> list[tuple[str, str, int]]:
    """(event_type, status, attempts) of the subscription's deliveries, oldest first."""
    return conn.execute(
        "SELECT event_type, status, attempts FROM webhook_deliveries WHERE subscription_id = %s"
        " ORDER BY created_at, delivery_id",
        (subscription_id,),
    ).fetchall()
