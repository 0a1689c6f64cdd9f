"""IngestService: the composition root of MQTT ingest (consumer -> a bounded queue per writer -> writer threads ->
database). Messages are dealt to writers by device (`inbound.partition_of`), so every writer owns its devices."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg_pool import ConnectionPool

from cityops.contract.messages import Command, DeviceConfig, dump
from cityops.contract.topics import Topic, device_topic
from cloud_hub.core.config import HubSettings
from cloud_hub.core.types import EventProcessor, TelemetryProcessor
from cloud_hub.ingest.consumer import MqttConsumer
from cloud_hub.ingest.inbound import InboundMessage
from cloud_hub.ingest.validation import ValidationLimits
from cloud_hub.ingest.writer import BatchWriter

log = logging.getLogger(__name__)

UNHEALTHY_AFTER_S = 30.0  # a broker or database outage longer than this makes healthy() false


def default_client_id(settings: HubSettings) -> str:
    """Stable per host, so a restarted hub resumes its persistent session (and the messages queued in it)."""
    configured = settings.ingest_client_id
    if configured:
        return str(configured)
    user = settings.mqtt.username or "cityops-hub"
    return f"{user}-ingest-{socket.gethostname()}"[:64]


class IngestService:
    def __init__(
        self,
        settings: HubSettings,
        pool: ConnectionPool,
        processors: Sequence[EventProcessor] = (),
        *,
        telemetry_processors: Sequence[TelemetryProcessor] = (),
        client_id: str | None = None,
        session_expiry_s: int | None = None,
    ) -> None:
        self.settings = settings
        count = int(settings.ingest_writers)
        per_writer = max(1, -(-settings.ingest_queue_max // count))  # the configured bound holds for all together
        self._inboxes: list[queue.Queue[InboundMessage]] = [queue.Queue(maxsize=per_writer) for _ in range(count)]
        self.consumer = MqttConsumer(
            settings.mqtt,
            client_id or default_client_id(settings),
            self._inboxes,
            share_group=settings.share_group,
            session_expiry_s=session_expiry_s
            if session_expiry_s is not None
            else int(settings.ingest_session_expiry_s),
            receive_maximum=settings.ingest_queue_max,
        )
        self.writers = [
            BatchWriter(
                pool,
                inbox,
                self.consumer,
                processors,
                telemetry_processors=telemetry_processors,
                limits=ValidationLimits.from_settings(settings),
                batch_max=settings.ingest_batch_max,
                batch_wait_s=settings.ingest_batch_wait_ms / 1000,
                store_retries=settings.ingest_store_retries,
                queued=self._queued,
            )
            for inbox in self._inboxes
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._disconnected_since: float | None = None

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("IngestService already started")
        self._threads = [
            threading.Thread(target=writer.run, args=(self._stop,), name=f"ingest-writer-{n}", daemon=True)
            for n, writer in enumerate(self.writers)
        ]
        for thread in self._threads:
            thread.start()
        self.consumer.start()
        log.info("ingest started (broker %r, share group %r)", self.settings.mqtt, self.settings.share_group)

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop taking messages, store and ack what is queued (up to the timeout), then disconnect.

        Whatever is still queued after that was never acked, so the broker delivers it again later."""
        if not self._threads:
            return
        self.consumer.close_intake()
        deadline = time.monotonic() + drain_timeout_s
        while self._queued() and time.monotonic() < deadline and self._writers_alive():
            time.sleep(0.05)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()))
        self.consumer.stop()
        self._threads = []
        log.info("ingest stopped")

    def _queued(self) -> int:
        return sum(inbox.qsize() for inbox in self._inboxes)

    def _writers_alive(self) -> bool:
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def _db_failing_since(self) -> float | None:
        failing = [w.db_failing_since for w in self.writers if w.db_failing_since is not None]
        return min(failing) if failing else None

    def stats(self) -> dict[str, Any]:
        totals: dict[str, Any] = {}
        for writer in self.writers:
            for key, value in writer.stats().items():
                totals[key] = totals.get(key, 0) + value
        return {
            **totals,
            "writers": len(self.writers),
            "queue_depth": self._queued(),
            "queue_max": sum(inbox.maxsize for inbox in self._inboxes),
            "mqtt_connected": self.consumer.connected(),
            "db_failing": self._db_failing_since() is not None,
            "writer_alive": self._writers_alive(),
        }

    def healthy(self) -> bool:
        """Writers running, broker reachable and database writable (short outages tolerated)."""
        if not self._writers_alive():
            return False
        now = time.monotonic()
        if self.consumer.connected():
            self._disconnected_since = None
        elif self._disconnected_since is None:
            self._disconnected_since = now
        failing = self._db_failing_since()
        broker_down = self._disconnected_since is not None and now - self._disconnected_since > UNHEALTHY_AFTER_S
        return not broker_down and not (failing is not None and now - failing > UNHEALTHY_AFTER_S)

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """True once connected and subscribed (for start-up ordering and tests)."""
        return self.consumer.wait_subscribed(timeout_s)

    # ---- hub -> device -----------------------------------------------------------------------------------------

    def publish_config(self, device_id: str, config: dict[str, Any]) -> None:
        """The device's full desired configuration, retained, so it gets it whenever it (re)connects."""
        desired = DeviceConfig.model_validate(config)  # requires an integer `version`
        self.consumer.publish(device_topic(device_id, Topic.CONFIG), dump(desired), qos=1, retain=True)

    def send_command(self, device_id: str, name: str, args: dict[str, Any] | None = None) -> str:
        """Publish a command; the result arrives on `cmd_result` and lands in the cmd_results table."""
        command = Command(cmd_id=str(uuid.uuid4()), name=name, args=args or {})
        self.consumer.publish(device_topic(device_id, Topic.CMD), dump(command), qos=1)
        return command.cmd_id
