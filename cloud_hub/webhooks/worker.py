"""The webhook sender: turns the live channel's messages into queued deliveries and sends them, each in its own
worker thread, off the ingest and API paths (a slow or failing receiver delays nothing but its own deliveries).

One tick (PeriodicThread, every `poll_s`):
1. fan-out: read `live_messages` after the cursor with the live channel's own reader and horizon rule
   (`cloud_hub.live.store.read_after`), queue one delivery per matching subscription, move the cursor; one replica
   at a time (advisory lock), idempotent per (subscription, message);
2. dispatch: for each subscription with a delivery due (and not paused after failures), a worker drains its queue
   one delivery at a time (a burst at most), so one receiver occupies at most one thread and its backlog never
   blocks another's.

Every attempt is signed (`cloud_hub.webhooks.signing`), has a connect and read timeout, and carries the delivery's
stable id: delivery is at least once (a receiver acknowledging after a timeout, or a process killed between send
and record, means a repeat), so receivers drop ids they have seen.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from cloud_hub.core.periodic import PeriodicThread
from cloud_hub.live import store as live_store
from cloud_hub.live.messages import LiveMessage
from cloud_hub.webhooks import events, signing
from cloud_hub.webhooks import store as hooks

log = logging.getLogger(__name__)

ATTEMPTS = Counter("cityops_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
QUEUED = Counter("cityops_webhook_deliveries_queued_total", "Webhook deliveries queued from live messages")
USER_AGENT = "CityOps-Webhooks/1"


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    retry: signing.RetryPolicy = field(default_factory=signing.RetryPolicy)
    timeout_s: float = 10.0  # connect, write and read, each
    lease_s: float = 120.0  # an attempt in flight; a crashed sender's delivery is retried after it
    workers: int = 4  # receivers served at the same time by this process
    burst: int = 50  # deliveries to one receiver before its worker yields to the others
    poll_s: float = 1.0
    fanout_batch: int = 1000
    prune_every_s: float = 3600.0
    keep_delivered_days: float = 7
    keep_dead_days: float = 30

    def __post_init__(self) -> None:
        if self.lease_s <= 3 * self.timeout_s:
            raise ValueError("lease_s must exceed three request timeouts, so a lease outlives its attempt")


class WebhookSender:
    """BackgroundJob (start/stop). `tick()` does one fan-out and dispatch round (also callable from tests)."""

    def __init__(
        self,
        pool: ConnectionPool,
        policy: DeliveryPolicy | None = None,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.policy = policy or DeliveryPolicy()
        self._rand = rand
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._busy: set[int] = set()  # subscriptions a worker of this process is draining
        self._busy_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._loop = PeriodicThread("webhooks", self.policy.poll_s, self.tick, join_timeout_s=self.policy.timeout_s * 2)
        self._pruned_at: float | None = None

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(self.policy.workers, thread_name_prefix="webhook")
        self._loop.start()

    def stop(self) -> None:
        self._stop.set()
        self._loop.stop()
        if self._executor is not None:
            # In-flight attempts end within their timeout; queued drains are dropped (their deliveries stay due).
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    # ---- one round -------------------------------------------------------------------------------------------

    def tick(self) -> None:
        while self.fan_out() >= self.policy.fanout_batch and not self._stop.is_set():
            pass  # a backlog of messages: keep reading
        self.dispatch()
        now = self._monotonic()
        if self._pruned_at is None or now - self._pruned_at >= self.policy.prune_every_s:
            self._pruned_at = now
            with self.pool.connection() as conn:
                gone = hooks.prune_deliveries(conn, self.policy.keep_delivered_days, self.policy.keep_dead_days)
            if gone:
                log.info("webhooks: pruned %d old deliveries", gone)

    def fan_out(self) -> int:
        """Queue the deliveries of the messages after the cursor (one batch); returns how many messages were read."""
        with self.pool.connection() as conn, conn.transaction():
            hooks.lock_fanout(conn)
            cursor = hooks.fanout_cursor(conn)
            if cursor is None:  # first run: start from now, history is not replayed to receivers
                hooks.set_fanout_cursor(conn, live_store.head(conn))
                return 0
            pruned = live_store.pruned_through(conn)
            if pruned > cursor:
                log.error("webhooks: live messages up to %s were pruned before they were queued; lost to receivers",
                          pruned)  # fmt: skip
            batch = live_store.read_after(conn, cursor, limit=self.policy.fanout_batch)
            if not batch.messages:
                return 0
            subscribers = hooks.listeners(conn)
            queued = [delivery for message in batch.messages for delivery in _deliveries(message, subscribers)]
            QUEUED.inc(hooks.insert_deliveries(conn, queued))
            hooks.set_fanout_cursor(conn, batch.messages[-1].position)
            return len(batch.messages)

    def dispatch(self) -> int:
        """Start a drain for each due subscription not already being drained here; returns how many started."""
        executor = self._executor
        with self._busy_lock:
            free = self.policy.workers - len(self._busy)
        if free <= 0:
            return 0
        with self.pool.connection() as conn:
            due = hooks.due_subscriptions(conn, self.policy.workers * 4)
        started = 0
        for subscription_id in due:
            with self._busy_lock:
                if subscription_id in self._busy or len(self._busy) >= self.policy.workers:
                    continue
                self._busy.add(subscription_id)
            if executor is None:  # not started (a test driving tick() itself): drain in this thread
                self._drain(subscription_id)
            else:
                executor.submit(self._drain, subscription_id)
            started += 1
        return started

    # ---- one receiver ----------------------------------------------------------------------------------------

    def _drain(self, subscription_id: int) -> None:
        try:
            with httpx.Client(timeout=self.policy.timeout_s, follow_redirects=False) as client:
                for _ in range(self.policy.burst):
                    if self._stop.is_set():
                        return
                    with self.pool.connection() as conn:
                        claimed = hooks.claim_next(conn, subscription_id, self.policy.lease_s)
                    if claimed is None or not self._attempt(client, claimed):
                        return  # nothing due, or the receiver failed: it is paused, the others go on
        except Exception:
            log.exception("webhooks: draining subscription %s failed; its deliveries stay queued", subscription_id)
        finally:
            with self._busy_lock:
                self._busy.discard(subscription_id)

    def _attempt(self, client: httpx.Client, claimed: hooks.Claimed) -> bool:
        """Send one delivery and record the outcome; True when the receiver took it (2xx)."""
        body = claimed.body.encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.H_DELIVERY: str(claimed.delivery_id),
            signing.H_EVENT: claimed.event_type,
            signing.H_TIMESTAMP: str(timestamp),
            signing.H_SIGNATURE: signing.signature(claimed.secret, timestamp, body),
            signing.H_ATTEMPT: str(claimed.attempt),
        }
        status: int | None = None
        try:
            response = client.post(claimed.url, content=body, headers=headers)
            status = response.status_code
            if 200 <= status < 300:
                with self.pool.connection() as conn:
                    hooks.record_success(conn, claimed, status)
                ATTEMPTS.labels("delivered").inc()
                return True
            error = f"HTTP {status}: {response.text[:300]}"
        except httpx.TimeoutException as exc:
            error = f"timed out after {self.policy.timeout_s:g} s ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        retry = self.policy.retry
        dead = retry.exhausted(claimed.attempt)
        with self.pool.connection() as conn:
            failures = hooks.record_failure(
                conn, claimed, status, error, retry.delay_s(claimed.attempt, self._rand), dead
            )
            hooks.pause_subscription(conn, claimed.subscription_id, retry.delay_s(failures, self._rand))
        ATTEMPTS.labels("dead" if dead else "failed").inc()
        log.warning(
            "webhook %s to subscription %s attempt %d failed: %s%s",
            claimed.delivery_id, claimed.subscription_id, claimed.attempt, error, " (dead-lettered)" if dead else "",
        )  # fmt: skip
        return False


def _deliveries(message: LiveMessage, subscribers: list[hooks.Listener]) -> list[hooks.NewDelivery]:
    """One delivery per subscription that wants this message (its type, written after it subscribed). Pure."""
    event_type = events.event_type_of(message)
    if event_type is None:
        return []
    out = []
    for listener in subscribers:
        if event_type in listener.events and message.at >= listener.since:
            delivery_id = uuid.uuid4()
            body = events.body(delivery_id, event_type, message.at, message.data_json, str(message.position))
            out.append(hooks.NewDelivery(delivery_id, listener.subscription_id, message.position, event_type, body))
    return out


def start_webhooks(pool: ConnectionPool, policy: DeliveryPolicy | None = None) -> Callable[[], None]:
    """Start the sender (the hub's composition root calls this); returns its stop."""
    sender = WebhookSender(pool, policy)
    sender.start()
    return sender.stop
