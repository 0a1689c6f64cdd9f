"""Loading rules/hub/telemetry.yaml: the shipped file validates, errors name the file and the field, a bad file
on reload keeps the running rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_hub.rules.loader import RulesError
from cloud_hub.telemetry.rules import TelemetryRulesStore, load_telemetry_rules, matching_rules

REPO = Path(__file__).resolve().parents[3]

GOOD = """
version: 2
rules:
  - id: level
    metric: water_level_cm
    device: wl-*
    kind: waterlogging
    threshold: {compare: ">=", value: 15, clear_value: 10}
"""


def test_the_shipped_rules_validate_and_cover_the_sensors() -> None:
    rules = TelemetryRulesStore.from_settings_dir(REPO / "rules").current
    metrics = {rule.metric for rule in rules.rules}
    assert {"water_level_cm", "tilt_deg", "current_a"} <= metrics
    assert any(r.threshold and r.threshold.rainstorm for r in rules.rules if r.kind == "waterlogging")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - {id: a, metric: m, kind: k, threshold: {compare: '>', value: 1, clear_valu: 0}}", "clear_valu"),
        ("rules:\n  - {id: a, metric: m, kind: k}", "exactly one of threshold, rate_of_rise, missing_data"),
        (
            "rules:\n  - {id: a, metric: m, kind: k, threshold: {compare: '>', value: 10, clear_value: 12}}",
            "clear_value 12.0 must be at or below the threshold 10.0",
        ),
        (
            "rules:\n  - {id: a, metric: m, kind: k, threshold: {compare: '>', value: 10, rainstorm: {value: 20}}}",
            "rainstorm mode only tightens thresholds",
        ),
        ("rules:\n  - {id: A b, metric: m, kind: k, missing_data: {after_s: 5}}", "lowercase"),
        (
            "rules:\n  - {id: a, metric: m, kind: k, missing_data: {after_s: 5}}\n"
            "  - {id: a, metric: n, kind: k, missing_data: {after_s: 5}}",
            "used twice",
        ),
        ("rules:\n  - {id: a, metric: m, kind: k, threshold: {compare: '=', value: 1}}", "rules.0.threshold.compare"),
        ("rules: [", "not valid YAML"),
    ],
)
def test_bad_rules_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "telemetry.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as err:
        load_telemetry_rules(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_reload_keeps_the_running_rules_when_the_file_turns_bad(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.yaml"
    path.write_text(GOOD)
    store = TelemetryRulesStore(path)
    path.write_text("rules:\n  - {id: level, metric: water_level_cm, kind: waterlogging, threshhold: {}}")
    with pytest.raises(RulesError, match="threshhold"):
        store.reload()
    assert store.current.version == 2 and store.current.rules[0].id == "level"


def test_missing_file_means_no_rules_and_patterns_select_devices(tmp_path: Path) -> None:
    assert load_telemetry_rules(tmp_path / "telemetry.yaml").rules == []
    path = tmp_path / "telemetry.yaml"
    path.write_text(GOOD)
    rules = load_telemetry_rules(path)
    assert [r.id for r in matching_rules(rules, "wl-sensor-12", "wl-12", "water_level_cm")] == ["level"]
    assert matching_rules(rules, "edge-demo-01", "wl-12", "water_level_cm") == []
    assert matching_rules(rules, "wl-sensor-12", "wl-12", "tilt_deg") == []
