"""The provisioning QR codes: what the technician app shows and a box (or its setup tool) reads. A contract between
hub and edge, so both sides encode and parse it here.

QR payload, version 1 (`qr_payload`, read back by `parse_qr_payload`):

    cityops:1:<base64url of compact JSON, no padding>
    JSON: {"d": device_id, "h": hub_url, "m": MQTT URL without the password, "s": device secret}
    e.g.  {"d":"edge-0007","h":"https://hub.example","m":"mqtts://edge-0007@broker.example:8883","s":"Xk3..."}

`m` is `mqtt://` or `mqtts://` (TLS), with the device id as its user; the box's setup tool puts `s` in as the
password (the secret is also the HTTP Basic password and is shown only once, like the rest of the answer).
base64url is RFC 4648 section 5 without `=` padding; the prefix names the format version, so a later format can
coexist. A reader should ignore JSON keys it does not know.

QR payload, version 2 (`qr_payload_v2`, read back by `parse_qr_v2`): no secret, only where to redeem a one-time
provisioning token (the box fetches its configuration with it, POST /api/v1/provisioning/redeem):

    cityops:2:<base64url of compact JSON, no padding>
    JSON: {"h": hub_url, "t": one-time token}
"""

from __future__ import annotations

import base64
import binascii
import json

QR_PREFIX = "cityops:1:"
QR_PREFIX_V2 = "cityops:2:"
V1_FIELDS = ("d", "h", "m", "s")
V2_FIELDS = ("h", "t")


def _encode(prefix: str, data: dict[str, str]) -> str:
    return prefix + base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(text: str, prefix: str, fields: tuple[str, ...]) -> dict[str, str]:
    if not text.startswith(prefix):
        raise ValueError(f"not a CityOps provisioning code: it must start with {prefix!r}")
    encoded = text.removeprefix(prefix)
    try:
        data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"provisioning code is damaged: {exc}") from None
    missing = [k for k in fields if not isinstance(data, dict) or not isinstance(data.get(k), str)]
    if missing:
        raise ValueError(f"provisioning code lacks {', '.join(missing)}")
    return {k: data[k] for k in fields}


def qr_payload(device_id: str, hub_url: str, mqtt_url: str, secret: str) -> str:
    """The string to encode as a QR code; `mqtt_url` must not carry the password (the secret travels as `s`)."""
    return _encode(QR_PREFIX, {"d": device_id, "h": hub_url, "m": mqtt_url, "s": secret})


def parse_qr_payload(text: str) -> dict[str, str]:
    """The payload's fields {d, h, m, s}; ValueError naming what is wrong."""
    return _decode(text, QR_PREFIX, V1_FIELDS)


def qr_payload_v2(hub_url: str, token: str) -> str:
    """The token QR code's text: the hub to ask and the one-time token, never a secret."""
    return _encode(QR_PREFIX_V2, {"h": hub_url, "t": token})


def parse_qr_v2(text: str) -> dict[str, str]:
    """The v2 payload's fields {h, t}; ValueError naming what is wrong (a v1 code is named as such)."""
    if text.startswith(QR_PREFIX):
        raise ValueError("this is a version 1 code (it carries the secret); use the token code, cityops:2:")
    return _decode(text, QR_PREFIX_V2, V2_FIELDS)
