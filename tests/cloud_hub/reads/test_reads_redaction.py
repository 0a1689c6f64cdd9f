"""Plate text by role (`cloud_hub.evidence.access`): a pure table of payloads in and out."""

from __future__ import annotations

from typing import Any

import pytest

from cloud_hub.evidence.access import for_role, redact_plates, sees_plates

PLATE = {"text": "苏A12345", "confidence": 0.9, "corners": [[0.1, 0.2], [0.3, 0.2], [0.3, 0.3], [0.1, 0.3]]}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, {}),
        (
            {"kind": "illegal_parking", "bbox": [0.1, 0.2, 0.3, 0.4]},
            {"kind": "illegal_parking", "bbox": [0.1, 0.2, 0.3, 0.4]},
        ),
        ({"kind": "illegal_parking", "plate": PLATE}, {"kind": "illegal_parking"}),
        ({"plates": [PLATE, PLATE], "track_id": 7}, {"track_id": 7}),
        ({"plate": None}, {}),
        ({"measurements": {"dwell_s": 60.0, "plate": "苏A12345"}}, {"measurements": {"dwell_s": 60.0}}),
        (
            {"vehicles": [{"track_id": 1, "plate": PLATE}, {"track_id": 2}]},
            {"vehicles": [{"track_id": 1}, {"track_id": 2}]},
        ),
        ({"a": {"b": [{"c": {"plates": ["x"], "d": 1}}]}}, {"a": {"b": [{"c": {"d": 1}}]}}),
        (
            {"plate_confidence": 0.8, "Plate": "kept: keys are matched exactly"},
            {"plate_confidence": 0.8, "Plate": "kept: keys are matched exactly"},
        ),
        ({"note": "plate 苏A12345 in free text"}, {"note": "plate 苏A12345 in free text"}),
        ([{"plate": PLATE}, "plate", 3], [{}, "plate", 3]),
        ("plate", "plate"),
        (None, None),
        (4.5, 4.5),
    ],
)
def test_redact_plates(payload: Any, expected: Any) -> None:
    assert redact_plates(payload) == expected


def test_redact_returns_a_copy() -> None:
    payload = {"plate": PLATE, "vehicles": [{"plate": PLATE}]}
    redact_plates(payload)
    assert payload == {"plate": PLATE, "vehicles": [{"plate": PLATE}]}


@pytest.mark.parametrize(
    ("role", "sees"), [("admin", True), ("commander", True), ("officer", True), ("technician", False), ("x", False)]
)
def test_by_role(role: str, sees: bool) -> None:
    payload = {"plate": PLATE, "kind": "illegal_parking"}
    assert sees_plates(role) is sees
    assert for_role(role, payload) == (payload if sees else {"kind": "illegal_parking"})
