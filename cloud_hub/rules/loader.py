"""Load and validate rules/hub/*.yaml; a bad file is refused with its path and field, the running rules stay."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

import cloud_hub
from cloud_hub.rules.models import HubRules, MergeRules, RoutingRules, SeverityRules, SlaRules

log = logging.getLogger(__name__)

# file name -> (HubRules field, schema); a missing file means that section's built-in defaults.
RULE_FILES: dict[str, tuple[str, type[BaseModel]]] = {
    "severity.yaml": ("severity", SeverityRules),
    "sla.yaml": ("sla", SlaRules),
    "merge.yaml": ("merge", MergeRules),
    "routing.yaml": ("routing", RoutingRules),
}


class RulesError(ValueError):
    """A rule file that cannot be used; the message names the file, the field and what is wrong."""


def hub_rules_dir(rules_dir: Path) -> Path:
    """`<rules_dir>/hub`. A relative rules_dir is looked up in the working directory first, then in the project
    checkout the hub runs from, so `cityops hub run` works from any directory of a source install."""
    candidates = [rules_dir / "hub"]
    if not rules_dir.is_absolute():
        candidates.append(Path(cloud_hub.__file__).resolve().parents[1] / rules_dir / "hub")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise RulesError(
        f"hub rules directory not found (looked in {', '.join(str(c) for c in candidates)}); "
        "set CITYOPS_RULES_DIR to the folder that contains hub/severity.yaml and hub/sla.yaml"
    )


def _field_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_rule_file(path: Path, schema: type[BaseModel]) -> BaseModel:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(f"{path}: top level must be a mapping of keys, not {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_field_path(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise RulesError(f"{path}: {problems}") from None


def load_hub_rules(directory: Path) -> HubRules:
    """Every rule file in `directory` validated, or RulesError for the first bad one."""
    sections = {}
    for name, (field, schema) in RULE_FILES.items():
        path = directory / name
        if path.exists():
            sections[field] = load_rule_file(path, schema)
        else:
            log.info("hub rules: %s not found; using built-in defaults for %s", path, field)
    return HubRules(**sections)


class RulesStore:
    """The rules in force. `reload()` swaps in new rules only when every file validates."""

    def __init__(self, directory: Path, rules: HubRules | None = None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._rules = rules if rules is not None else load_hub_rules(directory)

    @classmethod
    def from_settings_dir(cls, rules_dir: Path) -> RulesStore:
        return cls(hub_rules_dir(rules_dir))

    @property
    def current(self) -> HubRules:
        return self._rules

    def reload(self) -> HubRules:
        """Load again; on error the previous rules stay in force and RulesError is raised."""
        try:
            rules = load_hub_rules(self.directory)
        except RulesError:
            log.error("hub rules reload refused; previous rules stay in force", exc_info=True)
            raise
        with self._lock:
            self._rules = rules
        log.info("hub rules reloaded from %s", self.directory)
        return rules
