"""Severity classification from rules (first match wins) and the shipped rules/hub/severity.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_hub.incidents.severity import classify, more_severe
from cloud_hub.rules.loader import load_hub_rules
from cloud_hub.rules.models import SeverityRules

SHIPPED = load_hub_rules(Path(__file__).resolve().parents[3] / "rules" / "hub").severity


@pytest.mark.parametrize(
    ("kind", "subtype", "measurements", "expected"),
    [
        ("camera_fault", "offline", None, "blue"),
        ("waterlogging", "depth", {"water_depth_cm": 45.0}, "red"),
        ("waterlogging", "depth", {"water_depth_cm": 20.0}, "orange"),
        ("waterlogging", "depth", {"water_depth_cm": 5.0}, "yellow"),
        ("waterlogging", "coverage", {}, "yellow"),
        ("kitchen_violation", "rodent", None, "red"),
        ("kitchen_violation", "no_hat", None, "yellow"),
        ("illegal_parking", "no_parking_zone", {"dwell_s": 12.0}, "yellow"),
        ("illegal_parking", "no_parking_zone", {"dwell_s": 1800.0}, "orange"),
        ("something_new", None, None, "yellow"),
    ],
)
def test_shipped_rules(kind: str, subtype: str | None, measurements: dict | None, expected: str) -> None:
    assert classify(SHIPPED, kind, subtype, measurements) == expected


def test_lt_bound_and_default() -> None:
    rules = SeverityRules.model_validate(
        {"default": "blue", "rules": [{"measurement": "coverage", "gte": 0.2, "lt": 0.5, "severity": "orange"}]}
    )
    assert classify(rules, "waterlogging", None, {"coverage": 0.3}) == "orange"
    assert classify(rules, "waterlogging", None, {"coverage": 0.5}) == "blue"
    assert classify(rules, "waterlogging", None, {}) == "blue"


def test_more_severe() -> None:
    assert more_severe("yellow", "orange") == "orange"
    assert more_severe("red", "blue") == "red"
    assert more_severe("blue", "blue") == "blue"
