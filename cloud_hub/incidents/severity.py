"""Severity of a situation from the rules in severity.yaml: first matching rule, else the default. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from cloud_hub.rules.models import SEVERITY_RANK, SeverityRule, SeverityRules


def _matches(rule: SeverityRule, kind: str, subtype: str | None, measurements: Mapping[str, float]) -> bool:
    if rule.kind is not None and rule.kind != kind:
        return False
    if rule.subtype is not None and subtype not in rule.subtype:
        return False
    if rule.measurement is not None:
        value = measurements.get(rule.measurement)
        if value is None:
            return False
        if rule.gte is not None and not value >= rule.gte:
            return False
        if rule.lt is not None and not value < rule.lt:
            return False
    return True


def classify(rules: SeverityRules, kind: str, subtype: str | None, measurements: Mapping[str, float] | None) -> str:
    for rule in rules.rules:
        if _matches(rule, kind, subtype, measurements or {}):
            return rule.severity
    return rules.default


def more_severe(a: str, b: str) -> str:
    """The more urgent of two colours (red > orange > yellow > blue)."""
    return a if SEVERITY_RANK[a] <= SEVERITY_RANK[b] else b
