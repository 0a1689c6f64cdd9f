"""CityOps edge agent: camera -> detect -> track -> zone analytics -> evidence -> durable outbox -> MQTT/HTTP."""

__version__ = "0.1.0"
