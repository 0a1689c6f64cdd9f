"""Prometheus metrics of the ingest path (default registry, served by the app's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("cityops_ingest_messages_total", "MQTT messages taken from the broker", ["topic"])
EVENTS_STORED = Counter("cityops_ingest_events_stored_total", "Events stored for the first time")
EVENTS_DUPLICATE = Counter("cityops_ingest_events_duplicate_total", "Events already stored (redelivery, retransmit)")
READINGS_STORED = Counter("cityops_ingest_readings_stored_total", "Telemetry readings stored for the first time")
DEAD_LETTERS = Counter("cityops_ingest_dead_letters_total", "Messages or items dead-lettered", ["reason"])
ACKS_PUBLISHED = Counter("cityops_ingest_acks_published_total", "Ack messages published to devices")
DB_ERRORS = Counter("cityops_ingest_db_errors_total", "Batch transactions that failed and will be retried")
PROCESSOR_ERRORS = Counter("cityops_ingest_processor_errors_total", "Event processor calls that raised", ["processor"])
BATCH_SECONDS = Histogram(
    "cityops_ingest_batch_seconds",
    "Time to store one batch (transaction incl. processors and commit)",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BATCH_MESSAGES = Histogram(
    "cityops_ingest_batch_messages", "Messages per stored batch", buckets=(1, 5, 10, 50, 100, 500, 1000, 2000, 5000)
)
QUEUE_DEPTH = Gauge("cityops_ingest_queue_depth", "Messages received and waiting for the writers (all together)")
MQTT_CONNECTED = Gauge("cityops_ingest_mqtt_connected", "1 while the ingest consumer is connected to the broker")
STORE_FAILURES = Counter(
    "cityops_ingest_store_failures_total",
    "Messages dead-lettered because storing them raised (not a database error) on every retry",
)
