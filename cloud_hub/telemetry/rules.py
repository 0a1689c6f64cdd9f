"""Load rules/hub/telemetry.yaml (same conventions as the other hub rule files: errors name file and field, a bad
file on reload leaves the running rules in force) and match readings to rules."""

from __future__ import annotations

import logging
import threading
from fnmatch import fnmatchcase
from pathlib import Path

from cloud_hub.rules.loader import RulesError, hub_rules_dir, load_rule_file
from cloud_hub.telemetry.models import TelemetryRule, TelemetryRules

log = logging.getLogger(__name__)

TELEMETRY_FILE = "telemetry.yaml"


def load_telemetry_rules(path: Path) -> TelemetryRules:
    """The rules in `path`, none when the file does not exist, RulesError when it is invalid."""
    if not path.exists():
        log.info("telemetry rules: %s not found; no telemetry rules", path)
        return TelemetryRules()
    rules = load_rule_file(path, TelemetryRules)
    assert isinstance(rules, TelemetryRules)
    return rules


def matching_rules(rules: TelemetryRules, device_id: str, sensor_id: str, metric: str) -> list[TelemetryRule]:
    return [
        rule
        for rule in rules.rules
        if rule.metric == metric
        and (rule.device is None or fnmatchcase(device_id, rule.device))
        and (rule.sensor is None or fnmatchcase(sensor_id, rule.sensor))
    ]


class TelemetryRulesStore:
    """The telemetry rules in force; `reload()` swaps in new ones only when the file validates."""

    def __init__(self, path: Path, rules: TelemetryRules | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._rules = rules if rules is not None else load_telemetry_rules(path)

    @classmethod
    def from_settings_dir(cls, rules_dir: Path) -> TelemetryRulesStore:
        return cls(hub_rules_dir(rules_dir) / TELEMETRY_FILE)

    @property
    def current(self) -> TelemetryRules:
        return self._rules

    def reload(self) -> TelemetryRules:
        """Load again; on error the previous rules stay in force and RulesError is raised."""
        try:
            rules = load_telemetry_rules(self.path)
        except RulesError:
            log.error("telemetry rules reload refused; previous rules stay in force", exc_info=True)
            raise
        with self._lock:
            self._rules = rules
        log.info("telemetry rules reloaded from %s (%d rules)", self.path, len(rules.rules))
        return rules
