"""LiveRelay: one thread per hub process that follows `live_messages` and hands every new message to this process's
subscribers (the open live streams).

It LISTENs on the channel the triggers NOTIFY at commit, so a change committed by any process (another replica, an
ingest worker) wakes it at once; it then reads everything after its position up to the safe horizon
(`cloud_hub.live.store`). A lost connection costs nothing but time: it reconnects and goes on from its position.
Without a NOTIFY it still looks every `idle_wait_s` (a notification sent while it was reconnecting is not queued
for it), and soon again while committed messages wait behind an older transaction that is still running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import psycopg
from prometheus_client import Counter, Gauge, Histogram

from cloud_hub.devices.status import with_status
from cloud_hub.live import store
from cloud_hub.live.messages import LiveMessage, Position

log = logging.getLogger(__name__)

RELAYED = Counter("cityops_live_messages_relayed_total", "Live messages read by this process's relay", ["topic"])
RELAY_LAG = Histogram(
    "cityops_live_relay_lag_seconds",
    "From the change's commit-time row to the relay handing it to subscribers",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SUBSCRIBERS = Gauge("cityops_live_subscribers", "Open live streams in this process")

Deliver = Callable[[LiveMessage], None]
RELAY_APPLICATION_NAME = "cityops-live-relay"  # how its connection shows in pg_stat_activity


class Subscription:
    """A subscriber's callback; `deliver` runs on the relay thread and must only hand the message over."""

    def __init__(self, deliver: Deliver) -> None:
        self.deliver = deliver


def enrich(message: LiveMessage, now: datetime) -> LiveMessage:
    """Device messages carry the status operators see (online, stale, offline, never_seen), computed once here."""
    if message.topic != "device" or message.op == "command":  # a command's answer is not a device row
        return message
    row = orjson.loads(message.data_json)
    for key in ("last_seen", "state_ts", "created_at", "provisioned_at", "clock_offset_at"):
        if isinstance(row.get(key), str):
            row[key] = datetime.fromisoformat(row[key])
    data = with_status(row, now)
    return LiveMessage(
        message.position, message.at, message.topic, message.op,
        orjson.dumps(data).decode(), message.grid_id, message.district, message.assignee, message.kind,
        message.device_id,
    )  # fmt: skip


class LiveRelay:
    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        *,
        batch: int = 1000,
        idle_wait_s: float = 1.0,
        pending_wait_s: float = 0.02,
        reconnect_s: float = 1.0,
    ) -> None:
        self._connect = connect  # an autocommit connection of its own (LISTEN needs one outside the pool)
        self._batch = batch
        self._idle_wait_s = idle_wait_s
        self._pending_wait_s = pending_wait_s
        self._reconnect_s = reconnect_s
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._position: Position | None = None
        self._ready = threading.Event()
        self.connected = False

    # ---- subscribers -------------------------------------------------------------------------------------------

    def subscribe(self, deliver: Deliver) -> Subscription:
        sub = Subscription(deliver)
        with self._lock:
            self._subscribers.append(sub)
            SUBSCRIBERS.set(len(self._subscribers))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
            SUBSCRIBERS.set(len(self._subscribers))

    @property
    def position(self) -> Position | None:
        """The last position handed to subscribers (None before the first connection)."""
        return self._position

    # ---- thread ------------------------------------------------------------------------------------------------

    def start(self, wait_s: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("live relay already started")
        self._thread = threading.Thread(target=self._run, name="live-relay", daemon=True)
        self._thread.start()
        if not self._ready.wait(wait_s):
            log.warning("live relay: no database connection yet; it keeps trying")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {store.CHANNEL}")
                    if self._position is None:
                        self._position = store.head(conn)
                    self.connected = True
                    self._ready.set()
                    self._follow(conn)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.warning("live relay: database connection lost (%s); reconnecting", str(exc).strip())
            finally:
                self.connected = False
            self._stop.wait(self._reconnect_s)

    def _follow(self, conn: psycopg.Connection) -> None:
        wait = 0.0
        while not self._stop.is_set():
            if wait > 0:
                # Wakes on the first NOTIFY, or after `wait` seconds; further queued notifications are read next time.
                for _ in conn.notifies(timeout=wait, stop_after=1):
                    pass
            assert self._position is not None
            found = store.read_after(conn, self._position, self._batch)
            if found.messages:
                self._hand_out(found.messages)
                self._position = found.messages[-1].position
            if len(found.messages) == self._batch:
                wait = 0.0
            else:
                wait = self._pending_wait_s if found.pending else self._idle_wait_s

    def _hand_out(self, messages: list[LiveMessage]) -> None:
        now = datetime.now(UTC)
        with self._lock:
            subscribers = list(self._subscribers)
        for message in messages:
            try:
                message = enrich(message, now)
            except Exception:  # a row the relay cannot read goes out as stored: the relay thread must live on
                log.exception("live relay: could not add the status to %s %s", message.topic, message.position)
            RELAYED.labels(message.topic).inc()
            RELAY_LAG.observe(max(0.0, (now - message.at).total_seconds()))
            for sub in subscribers:
                try:
                    sub.deliver(message)
                except Exception:  # one broken subscriber must not stop the others
                    log.exception("live relay: a subscriber failed")


def relay_for(database_url: str) -> LiveRelay:
    """The relay of a hub process, with its own autocommit connection."""
    from cloud_hub.store.db import connect

    return LiveRelay(lambda: connect(database_url, autocommit=True, application_name=RELAY_APPLICATION_NAME))
