"""The canonical encoding: Python (`cloud_hub.audit.canonical`) and PostgreSQL (`audit_canonical`, `audit_hash`)
produce the same text and hash for awkward values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from cloud_hub.audit.canonical import canonical_text, entry_hash, format_at, jsonb_text, parse_detail

AT = datetime(2025, 1, 31, 8, 5, 9, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        ([], "[]"),
        ({}, "{}"),
        ('é\n"\\\x01\x1f\x7f😀', '"é\\n\\"\\\\\\u0001\\u001f\x7f😀"'),
        ({"b": 1, "aa": 2, "a": 3}, '{"a": 3, "b": 1, "aa": 2}'),  # by byte length, then bytes
        ({"é": 1, "ab": 2}, '{"ab": 2, "é": 1}'),  # "é" is two bytes, 0xC3 > "a"
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.0"), "0.0"),
        (1e-7, "0.0000001"),
        (1e16, "10000000000000000"),
        (2**70, "1180591620717411303424"),
        ([1, [None, {"x": []}]], '[1, [null, {"x": []}]]'),
    ],
)
def test_jsonb_text(value: Any, expected: str) -> None:
    assert jsonb_text(value) == expected


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), Decimal("NaN"), {1: "x"}, object()])
def test_jsonb_text_refuses_what_json_cannot_hold(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        jsonb_text(bad)


def test_format_at_is_utc_with_microseconds() -> None:
    east = timezone(timedelta(hours=8))
    assert format_at(datetime(2025, 1, 31, 16, 5, 9, 0, tzinfo=east)) == "2025-01-31T08:05:09.000000Z"
    with pytest.raises(ValueError):
        format_at(datetime(2025, 1, 31))


# Details as JSON text, so PostgreSQL parses exactly these characters (duplicate keys, exponents, trailing zeros).
AWKWARD_DETAILS = [
    "{}",
    "null",
    '"just a string"',
    '{"k": 1, "k": 2}',
    '{"b": 1, "aa": [1.50, 1e3, -0, 0.1e-5, 1E+2, -12.3400, 123456789012345678901234567890.123456789]}',
    '{"big": 99999999999999999999999999999999999999, "tiny": 1e-300, "neg": -1.5e-7}',
    '{"é": "ü", "ab": "\\u00e9", "😀": "\\ud83d\\ude00", "": "", "tab\\t": "a\\u0001b\\u001fc\\\\d\\"e/"}',
    '{"nested": {"z": [{"y": {"x": [null, true, false, {}]}}], "a": []}, "中文": "北京"}',
    '[1, "two", [3.0], {"four": 4}]',
]
AWKWARD_TEXTS = [None, "", "officer1", "é ü 中文 😀", 'quote " backslash \\ newline \n tab \t bell \x07', "\u2028\x7f"]
TIMES = [AT, datetime(2025, 6, 1, 0, 0, 0, 0, tzinfo=timezone(timedelta(hours=-3, minutes=-30))), AT.replace(year=2100)]


def _sql_canonical(conn: psycopg.Connection, args: tuple[Any, ...]) -> tuple[str, str]:
    row = conn.execute(
        "SELECT audit_canonical(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s),"
        " audit_hash(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
        args + args,
    ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize("detail", AWKWARD_DETAILS)
def test_sql_and_python_agree_on_awkward_details(conn: psycopg.Connection, detail: str) -> None:
    for i, text in enumerate(AWKWARD_TEXTS):
        prev = None if i == 0 else "ab" * 32
        args = ("work_orders/07", 2**62 + i, TIMES[i % len(TIMES)], text, text, "transition", text, text, detail, prev)
        sql_text, sql_hash = _sql_canonical(conn, args)
        py_args = (*args[:8], parse_detail(detail), prev)  # parsed from the input text, not PostgreSQL's output
        assert canonical_text(*py_args) == sql_text
        assert entry_hash(*py_args) == sql_hash


def test_sql_and_python_agree_on_python_values(conn: psycopg.Connection) -> None:
    """Details the hub passes as Python values (floats included) through psycopg's Jsonb."""
    detail = {"f": [0.1, 1e16, 1e-7, -0.0, 1.0, 2.5e-320, 1.7976931348623157e308], "i": -(2**63), "s": "ß"}
    row = conn.execute(
        "SELECT audit_canonical('admin', 1, %s, 'a', 'admin', 'x', NULL, NULL, %s, NULL)", (AT, Jsonb(detail))
    ).fetchone()
    assert row is not None
    assert canonical_text("admin", 1, AT, "a", "admin", "x", None, None, detail, None) == row[0]


# Any text PostgreSQL can store: no surrogates, no NUL.
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)


def _json_values() -> st.SearchStrategy[Any]:
    text = TEXT
    numbers = st.integers(min_value=-(10**30), max_value=10**30) | st.floats(allow_nan=False, allow_infinity=False)
    leaves = st.none() | st.booleans() | numbers | text
    return st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(detail=_json_values(), actor=st.none() | TEXT)
def test_sql_and_python_agree_on_generated_values(conn: psycopg.Connection, detail: Any, actor: str | None) -> None:
    args = ("admin", 7, AT, actor, "admin", "update", "user", actor, json.dumps(detail), "0" * 64)
    sql_text, sql_hash = _sql_canonical(conn, args)
    assert canonical_text(*args[:8], detail, "0" * 64) == sql_text
    assert entry_hash(*args[:8], detail, "0" * 64) == sql_hash
