"""Outgoing webhooks: the live channel's messages delivered to subscribed receivers, signed, retried, dead-lettered."""
