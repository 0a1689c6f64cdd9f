"""The writer thread: takes received messages off the queue in batches (by size and time), validates them,
stores each batch in one transaction, and only after the commit publishes device acks and PUBACKs the messages.

A database error never loses anything: the batch is retried with backoff and nothing is acked meanwhile, so the
queue fills and the consumer stops taking messages (the broker keeps them). A batch the database refuses for its
content (not for being unreachable) is split so that only the offending message is dead-lettered. Any other error
(a bug, a poison message that makes a processor or the storage code raise) is retried `store_retries` times, then
treated the same way: the batch is split, the message that still fails is dead-lettered (`store_failed`, with the
error) and its events' seqs are passed, so its device's later events are acked and every other device flows on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from cityops.contract.messages import Ack, dump, utc_now
from cityops.contract.topics import Topic, device_topic
from cloud_hub.core.types import EventProcessor, TelemetryProcessor
from cloud_hub.ingest import metrics
from cloud_hub.ingest.inbound import BrokerLink, InboundMessage
from cloud_hub.ingest.storage import StoreOutcome, store_batch
from cloud_hub.ingest.validation import DeadLetter, Reason, Validated, ValidationLimits, validate_message

log = logging.getLogger(__name__)

Batch = list[tuple[InboundMessage, Validated]]
TRANSIENT_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)  # incl. pool timeouts, deadlocks


class StoreFailed(RuntimeError):
    """Storing a batch raised something other than a database error on every one of its tries."""


class BatchWriter:
    def __init__(
        self,
        pool: ConnectionPool,
        inbox: queue.Queue[InboundMessage],
        link: BrokerLink,
        processors: Sequence[EventProcessor] = (),
        *,
        telemetry_processors: Sequence[TelemetryProcessor] = (),
        limits: ValidationLimits | None = None,
        batch_max: int = 2000,
        batch_wait_s: float = 0.02,
        retry_max_s: float = 5.0,
        store_retries: int = 3,
        clock: Callable[[], datetime] = utc_now,
        queued: Callable[[], int] | None = None,
    ) -> None:
        """`queued`: the messages waiting for every writer of the process, for the queue-depth gauge (default:
        this writer's inbox)."""
        self.pool = pool
        self.inbox = inbox
        self.queued = queued or inbox.qsize
        self.link = link
        self.processors = tuple(processors)
        self.telemetry_processors = tuple(telemetry_processors)
        self.limits = limits or ValidationLimits()
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.retry_max_s = retry_max_s
        self.store_retries = store_retries
        self.clock = clock
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = dict.fromkeys(
            ("messages", "batches", "events_stored", "events_duplicate", "readings_stored", "dead_letters",
             "acks_published", "db_errors", "processor_errors", "store_failures"),
            0,
        )  # fmt: skip
        self.db_failing_since: float | None = None  # monotonic time of the first failure of the current streak

    # ---- loop -------------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            batch = self.collect(stop)
            if batch:
                self.process(batch, stop)

    def collect(self, stop: threading.Event, first_wait_s: float = 0.2) -> Batch:
        """Up to `batch_max` messages (or events/readings), waiting at most `batch_wait_s` after the first."""
        try:
            first = self.inbox.get(timeout=first_wait_s)
        except queue.Empty:
            return []
        batch = [self.validate(first)]
        units = self._units(batch[0][1])
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_max and units < self.batch_max and not stop.is_set():
            remaining = deadline - time.monotonic()
            try:
                # Past the deadline, still take what is already queued: under load batches fill up at once.
                message = self.inbox.get(timeout=remaining) if remaining > 0 else self.inbox.get_nowait()
            except queue.Empty:
                break
            batch.append(self.validate(message))
            units += self._units(batch[-1][1])
        metrics.QUEUE_DEPTH.set(self.queued())
        return batch

    def validate(self, message: InboundMessage) -> tuple[InboundMessage, Validated]:
        validated = validate_message(message.topic, message.payload, message.received_at, self.limits)
        metrics.MESSAGES.labels(topic=validated.suffix.value if validated.suffix else "unknown").inc()
        return message, validated

    @staticmethod
    def _units(validated: Validated) -> int:
        return max(1, len(validated.events) + len(validated.readings))

    # ---- one batch --------------------------------------------------------------------------------------------

    def process(self, batch: Batch, stop: threading.Event) -> bool:
        """Store, then ack. False when stopped before the batch could be stored (nothing acked: redelivered)."""
        try:
            outcome = self._store_retrying([v for _, v in batch], stop)
        except (psycopg.Error, StoreFailed) as exc:  # the content cannot be stored: find the message responsible
            if len(batch) > 1:
                log.warning("batch of %d messages not stored (%s); storing them one by one", len(batch), exc)
                return all(self.process([item], stop) for item in batch)
            message, validated = batch[0]
            reason = Reason.STORE_FAILED if isinstance(exc, StoreFailed) else Reason.STORE_REJECTED
            log.error("message on %s not stored (%s), dead-lettered: %s", message.topic, reason.value, exc)
            rejected = Validated(message.topic, validated.device_id, validated.suffix, message.received_at)
            rejected.dead_letters.append(
                DeadLetter(message.topic, validated.device_id, reason, str(exc)[:500], message.payload)
            )
            if reason is Reason.STORE_FAILED:
                rejected.abandoned = list(validated.events)
                metrics.STORE_FAILURES.inc()
                self._count("store_failures", 1)
            outcome = self._store_retrying([rejected], stop)
        if outcome is None:
            return False
        self._finish(batch, outcome)
        return True

    def _store_retrying(self, messages: list[Validated], stop: threading.Event) -> StoreOutcome | None:
        """Retries database outages with backoff until stored or stopped; content errors propagate, and so does
        anything else (StoreFailed) once it failed `store_retries` times in a row."""
        delay, failures = 0.1, 0
        while True:
            started = time.monotonic()
            try:
                with self.pool.connection() as conn:  # commits when the block ends
                    outcome = store_batch(conn, messages, self.processors, self.clock(), self.telemetry_processors)
                metrics.BATCH_SECONDS.observe(time.monotonic() - started)
                metrics.BATCH_MESSAGES.observe(len(messages))
                self.db_failing_since = None
                return outcome
            except psycopg.Error as exc:
                if not isinstance(exc, TRANSIENT_ERRORS):
                    raise
                log.warning("storing a batch failed (%s); retrying in %.1f s, nothing acked", exc, delay)
            except Exception as exc:  # a bug or a poison message must not kill the writer thread, nor block it
                failures += 1
                if failures >= self.store_retries:
                    raise StoreFailed(f"{type(exc).__name__}: {exc}") from exc
                log.exception("unexpected error while storing a batch; retrying in %.1f s, nothing acked", delay)
            metrics.DB_ERRORS.inc()
            self._count("db_errors", 1)
            if self.db_failing_since is None:
                self.db_failing_since = time.monotonic()
            if stop.wait(delay):
                return None
            delay = min(delay * 2, self.retry_max_s)

    def _finish(self, batch: Batch, outcome: StoreOutcome) -> None:
        for device_id, acked_seq in sorted(outcome.acks.items()):
            self.link.publish(device_topic(device_id, Topic.ACK), dump(Ack(acked_seq=acked_seq)), qos=1)
        for message, _ in batch:
            self.link.ack(message)
        metrics.EVENTS_STORED.inc(outcome.events_stored)
        metrics.EVENTS_DUPLICATE.inc(outcome.events_duplicate)
        metrics.READINGS_STORED.inc(outcome.readings_stored)
        metrics.ACKS_PUBLISHED.inc(len(outcome.acks))
        for letter in outcome.dead_letters:
            metrics.DEAD_LETTERS.labels(reason=letter.reason.value).inc()
        for name in outcome.processor_errors:
            metrics.PROCESSOR_ERRORS.labels(processor=name).inc()
        with self._lock:
            s = self._stats
            s["messages"] += len(batch)
            s["batches"] += 1
            s["events_stored"] += outcome.events_stored
            s["events_duplicate"] += outcome.events_duplicate
            s["readings_stored"] += outcome.readings_stored
            s["dead_letters"] += len(outcome.dead_letters)
            s["acks_published"] += len(outcome.acks)
            s["processor_errors"] += len(outcome.processor_errors)

    def _count(self, key: str, n: int) -> None:
        with self._lock:
            self._stats[key] += n

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._stats)
