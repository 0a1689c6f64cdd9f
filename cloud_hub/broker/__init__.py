"""Broker administration: per-device credentials and ACLs in Mosquitto's dynamic-security plugin."""
