"""Signing and retry arithmetic of webhook deliveries. Pure.

A delivery carries `X-CityOps-Timestamp: <unix seconds>` and `X-CityOps-Signature: v1=<hex>`, the HMAC-SHA256 with
the subscription's secret over `timestamp + "." + body` (the body's bytes exactly as sent). A receiver recomputes
it, compares in constant time, refuses timestamps too far from its clock (a replayed old request), and drops
deliveries whose `X-CityOps-Delivery` id it has already processed (delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300
H_DELIVERY = "X-CityOps-Delivery"
H_EVENT = "X-CityOps-Event"
H_TIMESTAMP = "X-CityOps-Timestamp"
H_SIGNATURE = "X-CityOps-Signature"
H_ATTEMPT = "X-CityOps-Attempt"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>` for these bytes at this time."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now_s: float, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> bool:
    """What a receiver checks (header names case-insensitive): a fresh timestamp and a matching v1 signature.
    Several signatures separated by commas are accepted (one per secret while a secret is being rotated)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered.get(H_TIMESTAMP.lower(), ""))
    except ValueError:
        return False
    if abs(now_s - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    sent = [part.strip() for part in lowered.get(H_SIGNATURE.lower(), "").split(",")]
    return any(hmac.compare_digest(expected, candidate) for candidate in sent)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n failed -> wait a random time in [d/2, d], d = min(cap, base*2^(n-1)).
    After `max_attempts` failed attempts a delivery is dead-lettered (kept, visible, re-drivable)."""

    base_s: float = 10.0
    cap_s: float = 3600.0
    max_attempts: int = 12  # with the defaults: about 3.5 hours of trying

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s or self.max_attempts < 1:
            raise ValueError("retry policy needs 0 < base_s <= cap_s and max_attempts >= 1")

    def delay_s(self, failed_attempts: int, rand: Callable[[], float]) -> float:
        """Seconds to wait after the `failed_attempts`-th failure; `rand` returns a float in [0, 1)."""
        step = min(self.cap_s, self.base_s * 2 ** min(max(failed_attempts - 1, 0), 60))
        return step / 2 + rand() * step / 2

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
