"""MQTT ingest: validate device messages, store them exactly once in batches, ack after commit."""
