"""The canonical encoding of an audit entry and its hash, byte for byte as migration 0018's `audit_canonical` and
`audit_hash` produce them in PostgreSQL.

The encoding is jsonb's text form of the array

    [chain, seq, at, actor, role, action, entity, entity_id, detail, prev_hash]

where `at` is the UTC time as ISO-8601 text with microseconds and a `Z` (`2025-01-31T08:05:09.123456Z`) and
`detail` is the entry's JSON value. jsonb's text form: `, ` between items and `: ` after keys; object keys ordered by
the byte length of their UTF-8 text, then by those bytes (one entry per key, the last one given wins); numbers as
PostgreSQL's `numeric` prints them (fixed point, as many decimals as written: `1.50` stays `1.50`, `1e3` is `1000`,
`-0` is `0`); strings escaped like `to_json` (`"`, `\\`, `\\b \\f \\n \\r \\t`, other characters below U+0020 as
`\\u00xx`, everything else as is). The hash is SHA-256 of the text's UTF-8 bytes, in lowercase hex.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

HASH_HEX_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of `audit_log`. `detail` is the JSON value (numbers as int or Decimal keep their exact digits)."""

    chain: str
    seq: int
    at: datetime
    actor: str | None
    role: str | None
    action: str
    entity: str | None
    entity_id: str | None
    detail: Any
    prev_hash: str | None
    hash: str


def format_at(at: datetime) -> str:
    """`at` in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (PostgreSQL: to_char(at AT TIME ZONE 'UTC', ...))."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    u = at.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"


def _string(text: str) -> str:
    # json.dumps escapes exactly what PostgreSQL's escape_json does once non-ASCII is left alone.
    return json.dumps(text, ensure_ascii=False)


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"JSON has no {value}")
    if value.is_zero():
        value = abs(value)  # numeric has no negative zero
    return format(value, "f")


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return len(raw), raw


def jsonb_text(value: Any) -> str:
    """`value` as PostgreSQL prints it after a round trip through jsonb (`value::jsonb::text`)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"JSON has no {value}")
        return _number(Decimal(repr(value)))  # what PostgreSQL parses from the float's shortest text
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("JSON object keys must be strings")
        keys = sorted(value, key=_key_order)
        return "{" + ", ".join(f"{_string(key)}: {jsonb_text(value[key])}" for key in keys) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def parse_detail(text: str) -> Any:
    """A jsonb text (`detail::text`) as a JSON value with exact numbers (Decimal for non-integers)."""
    return json.loads(text, parse_float=Decimal)


def canonical_text(
    chain: str,
    seq: int,
    at: datetime,
    actor: str | None,
    role: str | None,
    action: str,
    entity: str | None,
    entity_id: str | None,
    detail: Any,
    prev_hash: str | None,
) -> str:
    """The encoding that is hashed (see the module docstring)."""
    return jsonb_text([chain, seq, format_at(at), actor, role, action, entity, entity_id, detail, prev_hash])


def entry_hash(
    chain: str,
    seq: int,
    at: datetime,
    actor: str | None,
    role: str | None,
    action: str,
    entity: str | None,
    entity_id: str | None,
    detail: Any,
    prev_hash: str | None,
) -> str:
    """SHA-256 (lowercase hex) of the canonical text's UTF-8 bytes."""
    text = canonical_text(chain, seq, at, actor, role, action, entity, entity_id, detail, prev_hash)
    return hashlib.sha256(text.encode()).hexdigest()


def recompute(entry: Entry) -> str:
    """The hash `entry` must carry if nothing in it changed since it was written."""
    return entry_hash(
        entry.chain,
        entry.seq,
        entry.at,
        entry.actor,
        entry.role,
        entry.action,
        entry.entity,
        entry.entity_id,
        entry.detail,
        entry.prev_hash,
    )
