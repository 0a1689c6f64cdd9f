"""Communication: durable outbox, the MQTT link (the only paho import), evidence upload, the sender loop."""
